use std::vec::Vec;

use super::*;

const ALL: Rights = Rights::all();

fn r(bits: u32) -> Rights {
    Rights::from_bits_retain(bits)
}

/// Every link consistent: children point back at their parent, sibling
/// lists are doubly linked, roots are unlisted, and every live node is
/// reached exactly once from the roots.
fn check_links<K: Copy, B: Copy + Eq>(t: &Cdt<K, B>) {
    let mut reached = 0;
    for (id, n) in t.nodes.iter() {
        if n.parent == NIL {
            assert_eq!((n.prev_sibling, n.next_sibling), (NIL, NIL));
        } else {
            assert!(t.children(t.id(n.parent)).any(|c| c == id));
        }
        let mut prev = NIL;
        for c in t.children(id) {
            let cn = t.nodes.get(c).unwrap();
            assert_eq!(cn.parent, id.index);
            assert_eq!(cn.prev_sibling, prev);
            prev = c.index;
        }
        reached += 1;
    }
    assert_eq!(reached, t.len());
}

#[test]
fn rights_only_shrink() {
    let mut t: Cdt<u32, u8> = Cdt::new(8);
    let a = t.insert_root(1, Rights::COPY | Rights::WAIT, None).unwrap();
    assert_eq!(
        t.derive(a, 2, Rights::COPY | Rights::REVOKE, None),
        Err(Rc::NoCapability)
    );
    assert_eq!(t.derive(a, 2, ALL, None), Err(Rc::NoCapability));
    assert_eq!(t.len(), 1);
    assert_eq!(t.children(a).count(), 0);
    let b = t.derive(a, 2, Rights::WAIT, None).unwrap();
    assert_eq!(t.rights(b), Some(Rights::WAIT));
    assert_eq!(t.derive(b, 3, Rights::COPY, None), Err(Rc::NoCapability));
    let c = t.derive(b, 3, Rights::empty(), None).unwrap();
    assert_eq!(t.rights(c), Some(Rights::empty()));
    assert_eq!(t.parent(c), Some(b));
    assert_eq!(t.parent(a), None);
    check_links(&t);
}

#[test]
fn only_a_lone_root_gets_other_rights() {
    let mut t: Cdt<u32, u8> = Cdt::new(8);
    let a = t.insert_root(1, Rights::WAIT, None).unwrap();
    assert_eq!(t.set_root_rights(a, Rights::COPY | Rights::WAIT), Ok(()));
    let b = t.derive(a, 2, Rights::COPY, None).unwrap();
    // With a child, or as a child: refused, unchanged.
    assert_eq!(t.set_root_rights(a, Rights::empty()), Err(Rc::Busy));
    assert_eq!(t.set_root_rights(b, ALL), Err(Rc::Busy));
    assert_eq!(t.rights(a), Some(Rights::COPY | Rights::WAIT));
    assert_eq!(t.rights(b), Some(Rights::COPY));
    t.remove(b);
    assert_eq!(t.set_root_rights(b, ALL), Err(Rc::InvalidHandle));
    check_links(&t);
}

#[test]
fn dead_parents_are_invalid() {
    let mut t: Cdt<u32, u8> = Cdt::new(8);
    let a = t.insert_root(1, ALL, None).unwrap();
    assert_eq!(t.remove(a), Some(1));
    assert_eq!(
        t.derive(a, 2, Rights::empty(), None),
        Err(Rc::InvalidHandle)
    );
    // The slot is reused; the stale id still misses.
    let b = t.insert_root(3, ALL, None).unwrap();
    assert_eq!(b.index, a.index);
    assert_eq!(
        t.derive(a, 2, Rights::empty(), None),
        Err(Rc::InvalidHandle)
    );
    assert_eq!(t.key(a), None);
    assert_eq!(t.remove(a), None);
    assert!(!t.set_key(a, 9));
    assert_eq!(t.revoke(a, |_| panic!()), 0);
    assert_eq!(t.children(a).count(), 0);
    assert!(!t.is_descendant(a, b) && !t.is_descendant(b, a));
    assert_eq!(t.len(), 1);
}

#[test]
fn quota() {
    let mut t: Cdt<u32, u8> = Cdt::new(2);
    let a = t.insert_root(1, ALL, None).unwrap();
    t.derive(a, 2, ALL, None).unwrap();
    assert_eq!(t.derive(a, 3, ALL, None), Err(Rc::QuotaExceeded));
    assert_eq!(t.insert_root(3, ALL, None), Err(Rc::QuotaExceeded));
    assert_eq!(t.children(a).count(), 1);
    check_links(&t);
}

#[test]
fn badges_inherit_and_override() {
    let mut t: Cdt<u32, u8> = Cdt::new(16);
    let plain = t.insert_root(0, ALL, None).unwrap();
    assert_eq!(t.badge(plain), None);
    let a = t.insert_root(1, ALL, Some(10)).unwrap();
    let b = t.derive(a, 2, ALL, None).unwrap();
    let c = t.derive(b, 3, ALL, Some(30)).unwrap();
    let d = t.derive(c, 4, ALL, None).unwrap();
    let e = t.derive(plain, 5, ALL, Some(50)).unwrap();
    assert_eq!(
        [a, b, c, d, e].map(|n| t.badge(n)),
        [Some(10), Some(10), Some(30), Some(30), Some(50)]
    );
    // Removing the node that attached a badge keeps it on the descendants.
    t.remove(c);
    assert_eq!(t.parent(d), Some(b));
    assert_eq!(t.badge(d), Some(30));
    let f = t.derive(d, 6, ALL, None).unwrap();
    assert_eq!(t.badge(f), Some(30));
}

#[test]
fn remove_reparents() {
    let mut t: Cdt<u32, u8> = Cdt::new(16);
    let g = t.insert_root(1, ALL, None).unwrap();
    let s1 = t.derive(g, 2, ALL, None).unwrap();
    let p = t.derive(g, 3, Rights::COPY | Rights::WAIT, None).unwrap();
    let s2 = t.derive(g, 4, ALL, None).unwrap();
    let c1 = t.derive(p, 5, Rights::COPY, None).unwrap();
    let c2 = t.derive(p, 6, Rights::WAIT, None).unwrap();
    assert_eq!(t.remove(p), Some(3));
    check_links(&t);
    // Children took p's place, in order, and kept their rights.
    assert_eq!(t.children(g).collect::<Vec<_>>(), [s2, c2, c1, s1]);
    assert_eq!(t.parent(c1), Some(g));
    assert_eq!(t.rights(c1), Some(Rights::COPY));
    assert!(t.is_descendant(c2, g));
    let mut closed = Vec::new();
    assert_eq!(t.revoke(g, |k| closed.push(k)), 4);
    closed.sort();
    assert_eq!(closed, [2, 4, 5, 6]);
    assert_eq!(t.len(), 1);
    check_links(&t);
}

#[test]
fn removing_a_root_makes_roots() {
    let mut t: Cdt<u32, u8> = Cdt::new(16);
    let a = t.insert_root(1, ALL, None).unwrap();
    let b = t.derive(a, 2, ALL, None).unwrap();
    let c = t.derive(a, 3, ALL, None).unwrap();
    let d = t.derive(b, 4, ALL, None).unwrap();
    t.remove(a);
    check_links(&t);
    assert_eq!((t.parent(b), t.parent(c)), (None, None));
    assert_eq!(t.parent(d), Some(b));
    // A former sibling is no longer reached from b.
    assert_eq!(t.revoke(b, |k| assert_eq!(k, 4)), 1);
    assert_eq!(t.key(c), Some(3));
}

#[test]
fn revoke_takes_exactly_the_subtree() {
    let mut t: Cdt<u32, u8> = Cdt::new(32);
    let root = t.insert_root(0, ALL, None).unwrap();
    let left = t.derive(root, 1, ALL, None).unwrap();
    let right = t.derive(root, 2, ALL, None).unwrap();
    let mut under_left = Vec::new();
    let mut frontier = left;
    for k in 10..20 {
        let n = t.derive(frontier, k, ALL, None).unwrap();
        t.derive(n, k + 100, ALL, None).unwrap();
        under_left.extend([k, k + 100]);
        frontier = n;
    }
    let rc = t.derive(right, 3, ALL, None).unwrap();
    let other = t.insert_root(4, ALL, None).unwrap();
    let mut closed = Vec::new();
    assert_eq!(t.revoke(left, |k| closed.push(k)), under_left.len());
    closed.sort();
    under_left.sort();
    assert_eq!(closed, under_left);
    check_links(&t);
    for (n, k) in [(root, 0), (left, 1), (right, 2), (rc, 3), (other, 4)] {
        assert_eq!(t.key(n), Some(k));
    }
    assert_eq!(t.children(left).count(), 0);
    assert_eq!(t.children(root).collect::<Vec<_>>(), [right, left]);
    // The sibling subtree still works, and so does the revoked node.
    let rcc = t.derive(rc, 5, Rights::COPY, None).unwrap();
    assert!(t.is_descendant(rcc, root) && t.is_descendant(rcc, right));
    let l2 = t.derive(left, 6, ALL, None).unwrap();
    assert_eq!(t.revoke(root, |_| ()), 5);
    assert_eq!(t.key(l2), None);
    assert_eq!(t.len(), 2);
    check_links(&t);
}

#[test]
fn set_key_keeps_place() {
    let mut t: Cdt<(u32, u32), u8> = Cdt::new(8);
    let a = t.insert_root((1, 1), ALL, Some(7)).unwrap();
    let b = t.derive(a, (1, 2), Rights::COPY, None).unwrap();
    let c = t.derive(b, (1, 3), Rights::COPY, None).unwrap();
    assert!(t.set_key(b, (2, 9)));
    assert_eq!(t.key(b), Some((2, 9)));
    assert_eq!((t.parent(b), t.parent(c)), (Some(a), Some(b)));
    assert_eq!((t.rights(b), t.badge(b)), (Some(Rights::COPY), Some(7)));
    let mut closed = Vec::new();
    t.revoke(a, |k| closed.push(k));
    closed.sort();
    assert_eq!(closed, [(1, 3), (2, 9)]);
}

#[test]
fn deep_chains_need_no_recursion() {
    const N: u32 = 200_000;
    let mut t: Cdt<u32, u8> = Cdt::new(N as usize + 1);
    let root = t.insert_root(0, ALL, None).unwrap();
    let mut n = root;
    for k in 1..=N {
        n = t.derive(n, k, ALL, None).unwrap();
    }
    assert!(t.is_descendant(n, root));
    assert_eq!(t.badge(n), None);
    let mid = t.parent(t.parent(n).unwrap()).unwrap();
    t.remove(mid);
    let mut sum = 0u64;
    assert_eq!(t.revoke(root, |k| sum += u64::from(k)), N as usize - 1);
    assert_eq!(sum, u64::from(N) * u64::from(N + 1) / 2 - u64::from(N - 2));
    assert_eq!(t.len(), 1);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    const LIMIT: usize = 40;

    #[derive(Debug, Clone)]
    enum Op {
        Root(u32, Option<u8>),
        Derive(usize, u32, Option<u8>),
        Remove(usize),
        Revoke(usize),
        SetKey(usize, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Four rights bits, so subsets and supersets both come up often.
        let rights = 0u32..16;
        let badge = proptest::option::weighted(0.3, 0u8..4);
        let pick = any::<usize>();
        prop_oneof![
            1 => (rights.clone(), badge.clone()).prop_map(|(r, b)| Op::Root(r, b)),
            6 => (pick, rights, badge).prop_map(|(p, r, b)| Op::Derive(p, r, b)),
            2 => pick.prop_map(Op::Remove),
            1 => pick.prop_map(Op::Revoke),
            1 => (pick, any::<u32>()).prop_map(|(p, k)| Op::SetKey(p, k)),
        ]
    }

    /// Every node ever created, with the parent it was derived from (never
    /// updated): the tree's parent is the nearest live one of those.
    struct M {
        id: NodeId,
        parent: Option<usize>,
        rights: Rights,
        attached: Option<u8>,
        key: u32,
        alive: bool,
    }

    fn ancestors(m: &[M], i: usize) -> impl Iterator<Item = usize> + '_ {
        core::iter::successors(m[i].parent, move |&a| m[a].parent)
    }

    fn check(t: &Cdt<u32, u8>, m: &[M]) -> Result<(), TestCaseError> {
        check_links(t);
        prop_assert_eq!(t.len(), m.iter().filter(|x| x.alive).count());
        for (i, x) in m.iter().enumerate() {
            prop_assert_eq!(t.key(x.id), x.alive.then_some(x.key));
            if !x.alive {
                continue;
            }
            prop_assert_eq!(t.rights(x.id), Some(x.rights));
            let live_parent = ancestors(m, i).find(|&a| m[a].alive);
            prop_assert_eq!(t.parent(x.id), live_parent.map(|a| m[a].id));
            // (3) The nearest attachment, even through dead ancestors.
            let badge = core::iter::once(i)
                .chain(ancestors(m, i))
                .find_map(|a| m[a].attached);
            prop_assert_eq!(t.badge(x.id), badge);
            for a in ancestors(m, i).filter(|&a| m[a].alive) {
                // (1) Rights never grow.
                prop_assert!(m[a].rights.contains(x.rights));
            }
            for (j, y) in m.iter().enumerate().filter(|(_, y)| y.alive) {
                let model = ancestors(m, i).any(|a| a == j);
                prop_assert_eq!(t.is_descendant(x.id, y.id), model);
            }
            let mut kids: Vec<_> = t.children(x.id).collect();
            let mut model_kids: Vec<_> = (0..m.len())
                .filter(|&j| m[j].alive && ancestors(m, j).find(|&a| m[a].alive) == Some(i))
                .map(|j| m[j].id)
                .collect();
            kids.sort();
            model_kids.sort();
            prop_assert_eq!(kids, model_kids);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn matches_history_model(ops in proptest::collection::vec(op(), 1..150)) {
            let mut t: Cdt<u32, u8> = Cdt::new(LIMIT);
            let mut m: Vec<M> = Vec::new();
            for op in ops {
                let live = m.iter().filter(|x| x.alive).count();
                let pick = |p: usize| (!m.is_empty()).then(|| p % m.len());
                match op {
                    Op::Root(bits, badge) => {
                        let key = m.len() as u32;
                        match t.insert_root(key, r(bits), badge) {
                            Ok(id) => {
                                prop_assert!(live < LIMIT);
                                m.push(M { id, parent: None, rights: r(bits), attached: badge, key, alive: true });
                            }
                            Err(e) => prop_assert_eq!((e, live), (Rc::QuotaExceeded, LIMIT)),
                        }
                    }
                    Op::Derive(p, bits, badge) => {
                        let Some(p) = pick(p) else { continue };
                        let key = m.len() as u32;
                        let want = if !m[p].alive {
                            Err(Rc::InvalidHandle)
                        } else if !m[p].rights.contains(r(bits)) {
                            Err(Rc::NoCapability)
                        } else if live == LIMIT {
                            Err(Rc::QuotaExceeded)
                        } else {
                            Ok(())
                        };
                        let got = t.derive(m[p].id, key, r(bits), badge);
                        prop_assert_eq!(got.map(|_| ()), want);
                        if let Ok(id) = got {
                            m.push(M { id, parent: Some(p), rights: r(bits), attached: badge, key, alive: true });
                        }
                    }
                    Op::Remove(p) => {
                        let Some(p) = pick(p) else { continue };
                        prop_assert_eq!(t.remove(m[p].id), m[p].alive.then_some(m[p].key));
                        m[p].alive = false;
                    }
                    Op::Revoke(p) => {
                        let Some(p) = pick(p) else { continue };
                        let mut want: Vec<u32> = Vec::new();
                        if m[p].alive {
                            for j in 0..m.len() {
                                if m[j].alive && ancestors(&m, j).any(|a| a == p) {
                                    want.push(m[j].key);
                                    m[j].alive = false;
                                }
                            }
                        }
                        let mut got = Vec::new();
                        prop_assert_eq!(t.revoke(m[p].id, |k| got.push(k)), want.len());
                        // (2) Exactly the descendants, each once.
                        got.sort();
                        want.sort();
                        prop_assert_eq!(got, want);
                    }
                    Op::SetKey(p, key) => {
                        let Some(p) = pick(p) else { continue };
                        prop_assert_eq!(t.set_key(m[p].id, key), m[p].alive);
                        if m[p].alive {
                            m[p].key = key;
                        }
                    }
                }
                check(&t, &m)?;
            }
        }
    }
}

/// `descendant_count` says how many nodes `revoke` closes, for every node
/// of random trees (it sizes the kernel's victims list ahead).
#[test]
fn descendant_count_is_what_revoke_closes() {
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..50 {
        let mut t: Cdt<u32, u8> = Cdt::new(256);
        let mut nodes = vec![t.insert_root(0, ALL, None).unwrap()];
        for k in 1..60u32 {
            let parent = nodes[(next() % nodes.len() as u64) as usize];
            nodes.push(t.derive(parent, k, ALL, None).unwrap());
        }
        let pick = nodes[(next() % nodes.len() as u64) as usize];
        let counted = t.descendant_count(pick);
        let mut closed = 0;
        assert_eq!(t.revoke(pick, |_| closed += 1), counted);
        assert_eq!(closed, counted);
        assert_eq!(t.descendant_count(pick), 0);
        check_links(&t);
    }
    let t: Cdt<u32, u8> = Cdt::new(4);
    let gone = NodeId {
        index: 3,
        generation: 9,
    };
    assert_eq!(t.descendant_count(gone), 0);
}

#[test]
fn revoke_in_steps_takes_the_same_subtree() {
    let mut t: Cdt<u32, u8> = Cdt::new(64);
    let root = t.insert_root(0, ALL, None).unwrap();
    let keep = t.insert_root(99, ALL, None).unwrap();
    let mut want = Vec::new();
    let mut frontier = root;
    for k in 1..20 {
        let n = t.derive(frontier, k, ALL, None).unwrap();
        t.derive(n, k + 100, ALL, None).unwrap();
        want.extend([k, k + 100]);
        frontier = if k % 3 == 0 { root } else { n };
    }
    let mut closed = Vec::new();
    let mut steps = 0;
    loop {
        let (n, done) = t.revoke_some(root, 5, |k| closed.push(k));
        assert!(n <= 5);
        check_links(&t);
        steps += 1;
        if done {
            break;
        }
        assert_eq!(n, 5, "a step that is not the last takes its whole batch");
    }
    assert_eq!(steps, want.len().div_ceil(5));
    closed.sort();
    want.sort();
    assert_eq!(closed, want);
    assert_eq!(t.children(root).count(), 0);
    assert_eq!((t.key(root), t.key(keep)), (Some(0), Some(99)));
    assert_eq!(t.revoke_some(root, 5, |_| ()), (0, true));
}
