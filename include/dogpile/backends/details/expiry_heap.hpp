#pragma once
// A min-heap of table nodes by age stamp (their stamp/heap_index fields): the
// oldest entry of a shard in O(1), so writers and a full shard find what is
// past ttl without a sweep.

#include <algorithm>
#include <cstddef>
#include <vector>

namespace dogpile::details {

template <class Node>
class ExpiryHeap {
public:
    void reserve(std::size_t count) { nodes_.reserve(count); }

    // Makes room for one more push, so push itself never allocates. On throw nothing changed.
    void reserve_one() {
        if (nodes_.size() == nodes_.capacity()) nodes_.reserve(std::max<std::size_t>(16, nodes_.size() * 2));
    }

    // Precondition: reserve_one() since the last push.
    void push(Node* node) noexcept {
        node->heap_index = nodes_.size();
        nodes_.push_back(node);
        sift_up(node->heap_index);
    }

    void erase(Node* node) noexcept {
        const std::size_t i = node->heap_index;
        Node* last = nodes_.back();
        nodes_.pop_back();
        if (last == node) return;
        nodes_[i] = last;
        last->heap_index = i;
        sift_up(i);
        sift_down(last->heap_index);
    }

    // After `node->stamp` changed.
    void update(Node* node) noexcept {
        sift_up(node->heap_index);
        sift_down(node->heap_index);
    }

    Node* oldest() const noexcept { return nodes_.empty() ? nullptr : nodes_.front(); }

    void clear() noexcept { nodes_.clear(); }

private:
    void place(std::size_t i, Node* node) noexcept {
        nodes_[i] = node;
        node->heap_index = i;
    }

    void sift_up(std::size_t i) noexcept {
        Node* node = nodes_[i];
        while (i > 0) {
            const std::size_t parent = (i - 1) / 2;
            if (!(node->stamp < nodes_[parent]->stamp)) break;
            place(i, nodes_[parent]);
            i = parent;
        }
        place(i, node);
    }

    void sift_down(std::size_t i) noexcept {
        Node* node = nodes_[i];
        const std::size_t n = nodes_.size();
        for (;;) {
            std::size_t child = 2 * i + 1;
            if (child >= n) break;
            if (child + 1 < n && nodes_[child + 1]->stamp < nodes_[child]->stamp) ++child;
            if (!(nodes_[child]->stamp < node->stamp)) break;
            place(i, nodes_[child]);
            i = child;
        }
        place(i, node);
    }

    std::vector<Node*> nodes_;
};

}  // namespace dogpile::details
