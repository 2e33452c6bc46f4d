//! The handle inheritance tree (capability derivation tree): every handle
//! in every process is a node; copying or transferring a handle derives a
//! child whose rights are a subset of its source's.
//!
//! Revoking a node closes its whole subtree, in every process; closing a
//! node alone does not: its children move up to its parent, so a revoke
//! from higher up still reaches them.
//!
//! Links are intrusive (parent, first child, previous and next sibling),
//! stored as slot indices: a link always names a live node, so the slot's
//! generation adds nothing. [`Cdt::derive`] is O(1); [`Cdt::remove`] is
//! O(children), to re-parent them; [`Cdt::revoke`] is O(subtree), without
//! recursion or allocation, so any depth is safe. Each node stores its
//! *effective* badge, fixed at derivation, so [`Cdt::badge`] is O(1) and
//! survives the removal of the node that attached it.

use kos_abi::{Rc, Rights};

use crate::slab::{Slab, SlabError};

/// A node: the kernel keeps one beside each handle.
pub type NodeId = crate::slab::Id;

/// Link value meaning "no node".
const NIL: u32 = u32::MAX;

struct Node<K, B> {
    key: K,
    rights: Rights,
    badge: Option<B>,
    parent: u32,
    first_child: u32,
    /// Siblings are linked only under a parent; roots are not listed.
    prev_sibling: u32,
    next_sibling: u32,
}

pub struct Cdt<K, B> {
    nodes: Slab<Node<K, B>>,
}

impl<K: Copy, B: Copy + Eq> Cdt<K, B> {
    /// An empty tree of at most `limit` nodes.
    pub const fn new(limit: usize) -> Self {
        // Indices stay below the limit, so clamping keeps NIL unused.
        let limit = if limit > NIL as usize {
            NIL as usize
        } else {
            limit
        };
        Cdt {
            nodes: Slab::new(limit),
        }
    }

    /// Reserve room for every node now (see [`crate::slab::Slab::reserve_all`]).
    pub fn reserve_all(&mut self) -> Result<(), crate::slab::SlabError> {
        self.nodes.reserve_all()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A node with no parent (a handle created with its object).
    pub fn insert_root(&mut self, key: K, rights: Rights, badge: Option<B>) -> Result<NodeId, Rc> {
        self.insert(Node {
            key,
            rights,
            badge,
            parent: NIL,
            first_child: NIL,
            prev_sibling: NIL,
            next_sibling: NIL,
        })
    }

    /// A child of `parent` with `rights`, which must be a subset of the
    /// parent's (`rcNoCapability` if not). `badge` attaches a new badge to
    /// the child and its future descendants; `None` inherits the parent's.
    /// On any error nothing changes.
    pub fn derive(
        &mut self,
        parent: NodeId,
        key: K,
        rights: Rights,
        badge: Option<B>,
    ) -> Result<NodeId, Rc> {
        let p = self.nodes.get(parent).ok_or(Rc::InvalidHandle)?;
        if !p.rights.contains(rights) {
            return Err(Rc::NoCapability);
        }
        let next = p.first_child;
        let id = self.insert(Node {
            key,
            rights,
            badge: badge.or(p.badge),
            parent: parent.index,
            first_child: NIL,
            prev_sibling: NIL,
            next_sibling: next,
        })?;
        if next != NIL {
            self.node_mut(next).prev_sibling = id.index;
        }
        self.node_mut(parent.index).first_child = id.index;
        Ok(id)
    }

    pub fn key(&self, n: NodeId) -> Option<K> {
        self.nodes.get(n).map(|x| x.key)
    }

    pub fn rights(&self, n: NodeId) -> Option<Rights> {
        self.nodes.get(n).map(|x| x.rights)
    }

    /// The badge that applies to `n`: its own, or the one it inherited.
    pub fn badge(&self, n: NodeId) -> Option<B> {
        self.nodes.get(n)?.badge
    }

    pub fn parent(&self, n: NodeId) -> Option<NodeId> {
        self.link(self.nodes.get(n)?.parent)
    }

    /// Give a root with no descendants other rights (nothing derived from
    /// it can then hold more than it). `rcBusy` if it has a parent or
    /// children, `rcInvalidHandle` if it is not live; nothing changes then.
    pub fn set_root_rights(&mut self, n: NodeId, rights: Rights) -> Result<(), Rc> {
        let x = self.nodes.get_mut(n).ok_or(Rc::InvalidHandle)?;
        if x.parent != NIL || x.first_child != NIL {
            return Err(Rc::Busy);
        }
        x.rights = rights;
        Ok(())
    }

    /// Change `n`'s key: a handle moved to another process keeps its place
    /// in the tree. False if `n` is not live.
    pub fn set_key(&mut self, n: NodeId, key: K) -> bool {
        match self.nodes.get_mut(n) {
            Some(x) => {
                x.key = key;
                true
            }
            None => false,
        }
    }

    /// Remove `n` alone (a handle closed) and return its key. Its children
    /// take its place under its parent (or become roots), keeping their
    /// rights and effective badges. O(number of children).
    pub fn remove(&mut self, n: NodeId) -> Option<K> {
        let node = self.nodes.remove(n)?;
        let p = node.parent;
        let mut last = NIL;
        let mut c = node.first_child;
        while c != NIL {
            let child = self.node_mut(c);
            child.parent = p;
            let next = child.next_sibling;
            if p == NIL {
                child.prev_sibling = NIL;
                child.next_sibling = NIL;
            }
            last = c;
            c = next;
        }
        if p != NIL {
            // Splice the children (or nothing) where `n` was in the list.
            let (prev, next) = (node.prev_sibling, node.next_sibling);
            let (head, tail) = if node.first_child == NIL {
                (next, prev)
            } else {
                self.node_mut(node.first_child).prev_sibling = prev;
                self.node_mut(last).next_sibling = next;
                (node.first_child, last)
            };
            if prev == NIL {
                self.node_mut(p).first_child = head;
            } else {
                self.node_mut(prev).next_sibling = head;
            }
            if next != NIL {
                self.node_mut(next).prev_sibling = tail;
            }
        }
        Some(node.key)
    }

    /// Remove every strict descendant of `n` (not `n`), calling `closed`
    /// once with each removed key; returns how many were removed (0 if `n`
    /// is not live). O(subtree); no recursion, no allocation.
    pub fn revoke(&mut self, n: NodeId, closed: impl FnMut(K)) -> usize {
        self.revoke_some(n, usize::MAX, closed).0
    }

    /// [`Self::revoke`] of at most `max` descendants (a long revoke in
    /// steps: each removal leaves a consistent tree, and the next call
    /// goes on with what is left). Returns how many went and whether none
    /// is left.
    pub fn revoke_some(
        &mut self,
        n: NodeId,
        max: usize,
        mut closed: impl FnMut(K),
    ) -> (usize, bool) {
        let Some(top) = self.nodes.get(n) else {
            return (0, true);
        };
        // Post-order: descend by first children to a leaf, remove it (it is
        // its parent's first child, so unlinking is O(1)), then go on with
        // its next sibling, or climb to its parent once that has no children
        // left. Each node is entered once and removed once.
        let mut count = 0;
        let mut cur = top.first_child;
        while cur != NIL {
            if count == max {
                return (count, false);
            }
            let node = self.node(cur);
            if node.first_child != NIL {
                cur = node.first_child;
                continue;
            }
            let (parent, next) = (node.parent, node.next_sibling);
            self.node_mut(parent).first_child = next;
            if next != NIL {
                self.node_mut(next).prev_sibling = NIL;
            }
            let id = self.id(cur);
            let key = self.nodes.remove(id).map(|x| x.key);
            cur = if next != NIL {
                next
            } else if parent == n.index {
                NIL
            } else {
                parent
            };
            if let Some(key) = key {
                count += 1;
                closed(key);
            }
        }
        (count, true)
    }

    /// How many strict descendants `n` has (0 if it is not live): what
    /// [`Self::revoke`] would close. O(descendants).
    pub fn descendant_count(&self, n: NodeId) -> usize {
        let Some(top) = self.nodes.get(n) else {
            return 0;
        };
        // Pre-order by first children and next siblings, climbing back
        // through parents; never above `n`.
        let mut count = 0;
        let mut cur = top.first_child;
        while cur != NIL {
            count += 1;
            let node = self.node(cur);
            if node.first_child != NIL {
                cur = node.first_child;
                continue;
            }
            let mut at = cur;
            cur = NIL;
            while at != n.index {
                let x = self.node(at);
                if x.next_sibling != NIL {
                    cur = x.next_sibling;
                    break;
                }
                at = x.parent;
            }
        }
        count
    }

    /// Whether `d` is a strict descendant of `a`. O(depth of `d`).
    pub fn is_descendant(&self, d: NodeId, a: NodeId) -> bool {
        let (Some(d), Some(_)) = (self.nodes.get(d), self.nodes.get(a)) else {
            return false;
        };
        // `a` is live, so a live node in its slot is `a` itself.
        let mut cur = d.parent;
        while cur != NIL {
            if cur == a.index {
                return true;
            }
            cur = self.node(cur).parent;
        }
        false
    }

    /// `n`'s children, most recently derived first (none if `n` is not live).
    pub fn children(&self, n: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let first = self.nodes.get(n).map_or(NIL, |x| x.first_child);
        let live = |c: u32| (c != NIL).then_some(c);
        core::iter::successors(live(first), move |&c| live(self.node(c).next_sibling))
            .map(move |c| self.id(c))
    }

    fn insert(&mut self, node: Node<K, B>) -> Result<NodeId, Rc> {
        self.nodes.insert(node).map_err(|e| match e {
            SlabError::Full => Rc::QuotaExceeded,
            SlabError::OutOfMemory => Rc::OutOfMemory,
        })
    }

    fn link(&self, index: u32) -> Option<NodeId> {
        if index == NIL {
            None
        } else {
            Some(self.id(index))
        }
    }

    // Links name live nodes only; a dangling one is a bug in this module.
    fn id(&self, index: u32) -> NodeId {
        self.nodes.id_at(index).expect("cdt: link to a free slot")
    }

    fn node(&self, index: u32) -> &Node<K, B> {
        let id = self.id(index);
        self.nodes.get(id).expect("cdt: link to a free slot")
    }

    fn node_mut(&mut self, index: u32) -> &mut Node<K, B> {
        let id = self.id(index);
        self.nodes.get_mut(id).expect("cdt: link to a free slot")
    }
}

#[cfg(test)]
mod tests;
