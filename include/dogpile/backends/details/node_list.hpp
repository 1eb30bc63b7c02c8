#pragma once
// An intrusive doubly linked list of table nodes (their prev/next fields):
// the order an eviction policy keeps its entries in (eviction.hpp).

namespace dogpile::details {

template <class Node>
class NodeList {
public:
    Node* front() const noexcept { return head_; }
    Node* back() const noexcept { return tail_; }

    void push_front(Node* node) noexcept {
        node->prev = nullptr;
        node->next = head_;
        if (head_ != nullptr) head_->prev = node;
        head_ = node;
        if (tail_ == nullptr) tail_ = node;
    }

    // `pos` == nullptr appends.
    void insert_before(Node* pos, Node* node) noexcept {
        if (pos == nullptr) {
            node->next = nullptr;
            node->prev = tail_;
            if (tail_ != nullptr) tail_->next = node;
            tail_ = node;
            if (head_ == nullptr) head_ = node;
            return;
        }
        node->next = pos;
        node->prev = pos->prev;
        if (pos->prev != nullptr) {
            pos->prev->next = node;
        } else {
            head_ = node;
        }
        pos->prev = node;
    }

    void unlink(Node* node) noexcept {
        if (node->prev != nullptr) {
            node->prev->next = node->next;
        } else {
            head_ = node->next;
        }
        if (node->next != nullptr) {
            node->next->prev = node->prev;
        } else {
            tail_ = node->prev;
        }
        node->prev = node->next = nullptr;
    }

    // `fn` may unlink or destroy the node it is given.
    template <class Fn>
    void for_each(Fn fn) const {
        for (Node* n = head_; n != nullptr;) {
            Node* next = n->next;
            fn(n);
            n = next;
        }
    }

    // Forgets every node without touching them.
    void reset() noexcept { head_ = tail_ = nullptr; }

private:
    Node* head_ = nullptr;
    Node* tail_ = nullptr;
};

}  // namespace dogpile::details
