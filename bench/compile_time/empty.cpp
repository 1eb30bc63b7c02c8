// The floor: starting the compiler.
int main() { return 0; }
