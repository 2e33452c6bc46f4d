use std::collections::VecDeque;
use std::vec::Vec;

use super::*;

const T: fn(u32) -> ThreadId = ThreadId;

#[test]
fn levels_order_classes() {
    assert_eq!(level(SchedClass::Normal, 0), Some(0));
    assert_eq!(level(SchedClass::Normal, 31), Some(31));
    assert_eq!(level(SchedClass::Fifo, 0), Some(32));
    assert_eq!(level(SchedClass::RoundRobin, 0), Some(32));
    assert_eq!(level(SchedClass::Fifo, 31), Some(63));
    assert_eq!(level(SchedClass::RoundRobin, 31), Some(63));
    assert_eq!(level(SchedClass::Normal, 32), None);
    assert_eq!(level(SchedClass::Fifo, 32), None);
    assert_eq!(level(SchedClass::RoundRobin, u32::MAX), None);
    // Every real-time level above every Normal one.
    for p in 0..=MAX_PRIORITY {
        for q in 0..=MAX_PRIORITY {
            assert!(level(SchedClass::Fifo, p) > level(SchedClass::Normal, q));
        }
    }
}

#[test]
fn empty_queue() {
    let mut q = RunQueue::<4>::new();
    assert!(q.is_empty());
    assert_eq!(q.len(), 0);
    assert_eq!(q.highest_level(), None);
    assert_eq!(q.peek_highest(), None);
    assert_eq!(q.pop_highest(), None);
    assert!(!q.remove(T(0)));
    assert!(!q.remove(T(99)));
    assert_eq!(q.level_of(T(99)), None);
}

#[test]
fn fifo_within_level_highest_first() {
    let mut q = RunQueue::<8>::new();
    q.push_back(T(1), 5).unwrap();
    q.push_back(T(2), 40).unwrap();
    q.push_back(T(3), 5).unwrap();
    q.push_back(T(4), 40).unwrap();
    q.push_back(T(5), 0).unwrap();
    assert_eq!(q.len(), 5);
    assert_eq!(q.highest_level(), Some(40));
    let order: Vec<_> = std::iter::from_fn(|| q.pop_highest()).collect();
    assert_eq!(
        order,
        [(T(2), 40), (T(4), 40), (T(1), 5), (T(3), 5), (T(5), 0)]
    );
    assert!(q.is_empty());
}

#[test]
fn push_front_goes_first() {
    let mut q = RunQueue::<8>::new();
    q.push_back(T(1), 63).unwrap();
    q.push_back(T(2), 63).unwrap();
    q.push_front(T(3), 63).unwrap();
    assert_eq!(q.pop_highest(), Some((T(3), 63)));
    assert_eq!(q.pop_highest(), Some((T(1), 63)));
    // push_front into an empty level.
    q.push_front(T(4), 10).unwrap();
    assert_eq!(q.pop_highest(), Some((T(2), 63)));
    assert_eq!(q.pop_highest(), Some((T(4), 10)));
}

#[test]
fn duplicates_and_bad_input_refused_without_change() {
    let mut q = RunQueue::<4>::new();
    q.push_back(T(1), 7).unwrap();
    assert_eq!(q.push_back(T(1), 7), Err(QueueError::AlreadyQueued));
    assert_eq!(q.push_front(T(1), 9), Err(QueueError::AlreadyQueued));
    assert_eq!(q.push_back(T(4), 0), Err(QueueError::BadId));
    assert_eq!(q.push_back(T(u32::MAX), 0), Err(QueueError::BadId));
    assert_eq!(q.push_back(T(2), 64), Err(QueueError::BadLevel));
    assert_eq!(q.len(), 1);
    assert_eq!(q.level_of(T(1)), Some(7));
    assert_eq!(q.pop_highest(), Some((T(1), 7)));
    assert_eq!(q.pop_highest(), None);
    // Once dequeued it may be queued again.
    q.push_back(T(1), 3).unwrap();
    assert_eq!(q.level_of(T(1)), Some(3));
}

#[test]
fn remove_head_middle_tail_and_last() {
    let mut q = RunQueue::<8>::new();
    for i in 0..5 {
        q.push_back(T(i), 20).unwrap();
    }
    q.push_back(T(7), 3).unwrap();
    assert!(q.remove(T(0))); // head
    assert!(q.remove(T(2))); // middle
    assert!(q.remove(T(4))); // tail
    assert!(!q.remove(T(4)));
    assert_eq!(q.len(), 3);
    assert!(q.remove(T(7))); // only member: level bit clears
    assert_eq!(q.highest_level(), Some(20));
    assert_eq!(q.pop_highest(), Some((T(1), 20)));
    assert!(q.remove(T(3)));
    assert_eq!(q.highest_level(), None);
    assert!(q.is_empty());
}

#[test]
fn usable_in_a_static() {
    static Q: RunQueue<16> = RunQueue::new();
    assert!(Q.is_empty());
}

#[test]
fn fifo_slice_never_expires() {
    let mut s = Slice::new(SchedClass::Fifo, 1);
    for _ in 0..1000 {
        assert!(!s.on_tick());
    }
    assert!(!s.expired());
}

#[test]
fn round_robin_slice_uses_quantum() {
    let mut s = Slice::new(SchedClass::RoundRobin, 3);
    assert_eq!(s.quantum(), 3);
    assert!(!s.on_tick());
    assert!(!s.on_tick());
    assert!(s.on_tick());
    assert!(s.on_tick()); // stays expired
    s.reset();
    assert_eq!(s.remaining(), 3);
    assert!(!s.expired());

    let d = Slice::new(SchedClass::RoundRobin, 0);
    assert_eq!(d.quantum(), DEFAULT_QUANTUM_TICKS);
}

#[test]
fn normal_slice_ignores_quantum() {
    let mut s = Slice::new(SchedClass::Normal, 50);
    assert_eq!(s.quantum(), DEFAULT_QUANTUM_TICKS);
    for _ in 1..DEFAULT_QUANTUM_TICKS {
        assert!(!s.on_tick());
    }
    assert!(s.on_tick());
}

#[test]
fn preemption_rules() {
    // Nothing waiting: never.
    assert!(!should_preempt(10, false, None));
    assert!(!should_preempt(10, true, None));
    // Strictly higher: always.
    assert!(should_preempt(10, false, Some(11)));
    assert!(should_preempt(10, true, Some(11)));
    // Equal: only on expiry (round robin among equals).
    assert!(!should_preempt(10, false, Some(10)));
    assert!(should_preempt(10, true, Some(10)));
    // Lower: never, even when expired.
    assert!(!should_preempt(10, false, Some(9)));
    assert!(!should_preempt(10, true, Some(9)));
    // FIFO: its slice never expires, so it never yields to equals.
    let mut fifo = Slice::new(SchedClass::Fifo, 0);
    let l = level(SchedClass::Fifo, 5).unwrap();
    assert!(!should_preempt(l, fifo.on_tick(), Some(l)));
    assert!(should_preempt(l, fifo.on_tick(), Some(l + 1)));
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    const CAP: usize = 12;
    /// Few levels so that levels collide often.
    const LVLS: [u8; 4] = [0, 31, 32, 63];

    #[derive(Debug, Clone)]
    enum Op {
        PushBack(u32, u8),
        PushFront(u32, u8),
        Pop,
        Remove(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Ids up to CAP + 1 so out-of-range ids are exercised too.
        let id = 0..CAP as u32 + 2;
        let lvl = proptest::sample::select(&LVLS[..]);
        prop_oneof![
            3 => (id.clone(), lvl.clone()).prop_map(|(i, l)| Op::PushBack(i, l)),
            2 => (id.clone(), lvl).prop_map(|(i, l)| Op::PushFront(i, l)),
            2 => Just(Op::Pop),
            2 => id.prop_map(Op::Remove),
        ]
    }

    /// One deque per level; the obvious O(n) implementation.
    struct Model(Vec<VecDeque<u32>>);

    impl Model {
        fn find(&self, id: u32) -> Option<u8> {
            (0..LEVELS)
                .find(|&l| self.0[l].contains(&id))
                .map(|l| l as u8)
        }

        fn push(&mut self, id: u32, l: u8, front: bool) -> Result<(), QueueError> {
            if id as usize >= CAP {
                return Err(QueueError::BadId);
            }
            if self.find(id).is_some() {
                return Err(QueueError::AlreadyQueued);
            }
            let q = &mut self.0[l as usize];
            if front {
                q.push_front(id)
            } else {
                q.push_back(id)
            }
            Ok(())
        }

        fn pop(&mut self) -> Option<(ThreadId, u8)> {
            let l = (0..LEVELS).rev().find(|&l| !self.0[l].is_empty())?;
            Some((ThreadId(self.0[l].pop_front()?), l as u8))
        }

        fn remove(&mut self, id: u32) -> bool {
            let Some(l) = self.find(id) else { return false };
            self.0[l as usize].retain(|&x| x != id);
            true
        }
    }

    proptest! {
        #[test]
        fn matches_deque_model(ops in proptest::collection::vec(op(), 1..200)) {
            let mut q = RunQueue::<CAP>::new();
            let mut m = Model(vec![VecDeque::new(); LEVELS]);
            for op in ops {
                match op {
                    Op::PushBack(i, l) => prop_assert_eq!(q.push_back(T(i), l), m.push(i, l, false)),
                    Op::PushFront(i, l) => prop_assert_eq!(q.push_front(T(i), l), m.push(i, l, true)),
                    Op::Pop => prop_assert_eq!(q.pop_highest(), m.pop()),
                    Op::Remove(i) => prop_assert_eq!(q.remove(T(i)), m.remove(i)),
                }
                let total: usize = m.0.iter().map(VecDeque::len).sum();
                prop_assert_eq!(q.len(), total);
                prop_assert_eq!(q.is_empty(), total == 0);
                let hi = (0..LEVELS).rev().find(|&l| !m.0[l].is_empty()).map(|l| l as u8);
                prop_assert_eq!(q.highest_level(), hi);
                for i in 0..CAP as u32 + 2 {
                    prop_assert_eq!(q.level_of(T(i)), m.find(i));
                }
            }
            // Draining yields the model's full order: highest level first,
            // FIFO within a level, each id once.
            while let Some(x) = m.pop() {
                prop_assert_eq!(q.pop_highest(), Some(x));
            }
            prop_assert_eq!(q.pop_highest(), None);
        }
    }
}
