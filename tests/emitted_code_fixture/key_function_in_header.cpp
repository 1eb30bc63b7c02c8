// What check_no_emitted_code.cmake must reject: a virtual member declared
// without `inline` and defined `inline` after the class is the class's key
// function, so this TU emits the vtable although nothing uses the class.
namespace dogpile::fixture {

struct Shape {
    virtual ~Shape() = default;
    virtual int corners() const = 0;
};

struct Square final : Shape {
    int corners() const override;
};

inline int Square::corners() const { return 4; }

}  // namespace dogpile::fixture

int main() { return 0; }
