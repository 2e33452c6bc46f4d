//! Naming code addresses for crash reports, from an ELF symbol table.
//!
//! The tables are the `.symtab` and `.strtab` bytes that
//! [`crate::elf::symbols`] locates, and are as hostile as the rest of the
//! image: entries are read by hand, names are bounds-checked, and a bad
//! name degrades to `"?"` instead of failing the report.

use crate::bytes::{u32_at, u64_at};

const SYM_SIZE: usize = 24;
const STT_NOTYPE: u8 = 0;
const STT_FUNC: u8 = 2;
const SHN_UNDEF: u16 = 0;
/// Shown for a symbol whose name is empty, out of range, unterminated or
/// not UTF-8.
pub const UNKNOWN: &str = "?";

/// A symbol table: `.symtab` bytes (`Elf64_Sym`, 24 bytes each) and
/// `.strtab` bytes, as loaded.
#[derive(Copy, Clone, Debug)]
pub struct SymbolTable<'a> {
    symtab: &'a [u8],
    strtab: &'a [u8],
}

impl<'a> SymbolTable<'a> {
    /// `None` if `symtab` is not a whole number of entries.
    pub fn new(symtab: &'a [u8], strtab: &'a [u8]) -> Option<Self> {
        symtab
            .len()
            .is_multiple_of(SYM_SIZE)
            .then_some(Self { symtab, strtab })
    }

    /// The function symbol containing `addr` and the offset into it.
    ///
    /// Functions are `STT_FUNC` symbols, and `STT_NOTYPE` ones with a size
    /// (assembly without `.type`); undefined symbols are skipped. A symbol
    /// covers `[st_value, st_value + max(st_size, 1))`. When several
    /// overlap, the smallest wins (the most specific, e.g. an inner label
    /// rather than its enclosing function), the first on a tie.
    ///
    /// A linear scan: this only runs for crash reports, so no index is
    /// built or allocated.
    pub fn lookup(&self, addr: u64) -> Option<(&'a str, u64)> {
        let mut best: Option<(u64, u32, u64)> = None; // (size, name, value)
        for s in self.symtab.chunks_exact(SYM_SIZE) {
            let (Some(name), Some(value), Some(size)) = (u32_at(s, 0), u64_at(s, 8), u64_at(s, 16))
            else {
                continue;
            };
            let kind = s[4] & 0xf;
            let shndx = u16::from_le_bytes([s[6], s[7]]);
            let is_func = kind == STT_FUNC || (kind == STT_NOTYPE && size != 0);
            if !is_func || shndx == SHN_UNDEF {
                continue;
            }
            let span = size.max(1);
            let inside = addr >= value && addr - value < span;
            if inside && best.is_none_or(|(b, _, _)| span < b) {
                best = Some((span, name, value));
            }
        }
        best.map(|(_, name, value)| (self.name(name), addr - value))
    }

    /// The NUL-terminated string at `offset` in `.strtab`, or [`UNKNOWN`].
    fn name(&self, offset: u32) -> &'a str {
        let Some(tail) = usize::try_from(offset)
            .ok()
            .and_then(|o| self.strtab.get(o..))
        else {
            return UNKNOWN;
        };
        let Some(len) = tail.iter().position(|&b| b == 0) else {
            return UNKNOWN;
        };
        match core::str::from_utf8(&tail[..len]) {
            Ok(s) if !s.is_empty() => s,
            _ => UNKNOWN,
        }
    }
}

/// `name` without the `17h<16 hex digits>E` hash that Rust's legacy
/// mangling appends to `_ZN…E` paths: the hash only tells crate versions
/// apart, and is noise in a crash report. The result keeps the `_ZN`
/// prefix but loses the final `E`; other names are returned unchanged.
pub fn without_hash(name: &str) -> &str {
    const HASH: usize = "17h0123456789abcdefE".len();
    let b = name.as_bytes();
    let Some(start) = b.len().checked_sub(HASH) else {
        return name;
    };
    let hash = &b[start..];
    let is_hash = hash.starts_with(b"17h")
        && hash[3..HASH - 1].iter().all(u8::is_ascii_hexdigit)
        && hash[HASH - 1] == b'E';
    if name.starts_with("_ZN") && start > 3 && is_hash {
        // Everything before `start` is ASCII-delimited, so this is a char
        // boundary: the hash itself is ASCII.
        name.get(..start).unwrap_or(name)
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    const FUNC: u8 = STT_FUNC | 0x10; // STB_GLOBAL
    const NOTYPE: u8 = STT_NOTYPE;
    const OBJECT: u8 = 1;
    const SECTION: u8 = 3;

    /// `(name offset, st_info, shndx, value, size)` entries.
    fn symtab(syms: &[(u32, u8, u16, u64, u64)]) -> Vec<u8> {
        let mut b = Vec::new();
        for &(name, info, shndx, value, size) in syms {
            b.extend_from_slice(&name.to_le_bytes());
            b.push(info);
            b.push(0);
            b.extend_from_slice(&shndx.to_le_bytes());
            b.extend_from_slice(&value.to_le_bytes());
            b.extend_from_slice(&size.to_le_bytes());
        }
        b
    }

    const STRTAB: &[u8] = b"\0_start\0main\0inner\0bad\xff\0data\0\
        _ZN4core9panicking5panic17h0123456789abcdefE\0unterminated";
    const START: u32 = 1;
    const MAIN: u32 = 8;
    const INNER: u32 = 13;
    const BAD_UTF8: u32 = 19;
    const DATA: u32 = 24;
    const MANGLED: u32 = 29;
    const UNTERMINATED: u32 = 74;

    #[test]
    fn offsets_are_right() {
        let name = |o: u32| {
            let t = &STRTAB[o as usize..];
            &t[..t.iter().position(|&b| b == 0).unwrap_or(t.len())]
        };
        assert_eq!(name(START), b"_start");
        assert_eq!(name(MAIN), b"main");
        assert_eq!(name(INNER), b"inner");
        assert_eq!(name(DATA), b"data");
        assert_eq!(name(UNTERMINATED), b"unterminated");
        assert!(name(MANGLED).starts_with(b"_ZN4core") && name(MANGLED).ends_with(b"defE"));
    }

    #[test]
    fn new_checks_entry_size() {
        assert!(SymbolTable::new(&[], &[]).is_some());
        assert!(SymbolTable::new(&[0; 24], &[]).is_some());
        assert!(SymbolTable::new(&[0; 25], STRTAB).is_none());
        assert!(SymbolTable::new(&[0; 23], STRTAB).is_none());
    }

    #[test]
    fn lookup_finds_containing_function() {
        let syms = symtab(&[
            (0, 0, 0, 0, 0), // the null symbol
            (DATA, OBJECT, 2, 0x2000, 0x100),
            (START, FUNC, 1, 0x1000, 0x10),
            (MAIN, FUNC, 1, 0x1010, 0x80),
            (0, SECTION, 1, 0x1000, 0),
        ]);
        let t = SymbolTable::new(&syms, STRTAB).unwrap();
        assert_eq!(t.lookup(0x1000), Some(("_start", 0)));
        assert_eq!(t.lookup(0x100f), Some(("_start", 0xf)));
        assert_eq!(t.lookup(0x1010), Some(("main", 0)));
        assert_eq!(t.lookup(0x108f), Some(("main", 0x7f)));
        assert_eq!(t.lookup(0x1090), None);
        assert_eq!(t.lookup(0xfff), None);
        // Objects are not functions.
        assert_eq!(t.lookup(0x2000), None);
        assert_eq!(t.lookup(0), None);
        assert_eq!(t.lookup(u64::MAX), None);
    }

    #[test]
    fn notype_needs_a_size_and_undefined_is_skipped() {
        let syms = symtab(&[
            (START, NOTYPE, 1, 0x1000, 0),
            (MAIN, NOTYPE, 1, 0x2000, 0x20),
            (INNER, FUNC, SHN_UNDEF, 0x3000, 0x20),
            (DATA, FUNC, 1, 0x4000, 0),
        ]);
        let t = SymbolTable::new(&syms, STRTAB).unwrap();
        assert_eq!(t.lookup(0x1000), None);
        assert_eq!(t.lookup(0x2004), Some(("main", 4)));
        assert_eq!(t.lookup(0x3000), None);
        // A zero-size function covers its first byte only.
        assert_eq!(t.lookup(0x4000), Some(("data", 0)));
        assert_eq!(t.lookup(0x4001), None);
    }

    #[test]
    fn smallest_overlapping_symbol_wins() {
        let syms = symtab(&[
            (MAIN, FUNC, 1, 0x1000, 0x100),
            (INNER, FUNC, 1, 0x1040, 0x10),
            (START, NOTYPE, 1, 0x1040, 0x10), // same size: first wins
            (DATA, FUNC, 1, 0x1080, 0),       // zero size: a one-byte label
        ]);
        let t = SymbolTable::new(&syms, STRTAB).unwrap();
        assert_eq!(t.lookup(0x1000), Some(("main", 0)));
        assert_eq!(t.lookup(0x1044), Some(("inner", 4)));
        assert_eq!(t.lookup(0x1050), Some(("main", 0x50)));
        assert_eq!(t.lookup(0x1080), Some(("data", 0)));
        assert_eq!(t.lookup(0x1081), Some(("main", 0x81)));
    }

    #[test]
    fn bad_names_are_question_marks() {
        let syms = symtab(&[
            (BAD_UTF8, FUNC, 1, 0x1000, 0x10),
            (UNTERMINATED, FUNC, 1, 0x2000, 0x10),
            (STRTAB.len() as u32, FUNC, 1, 0x3000, 0x10),
            (u32::MAX, FUNC, 1, 0x4000, 0x10),
            (0, FUNC, 1, 0x5000, 0x10), // empty name
        ]);
        let t = SymbolTable::new(&syms, STRTAB).unwrap();
        for a in [0x1000, 0x2000, 0x3000, 0x4000, 0x5008] {
            assert_eq!(t.lookup(a).map(|(n, _)| n), Some(UNKNOWN), "{a:#x}");
        }
        assert_eq!(t.lookup(0x5008), Some((UNKNOWN, 8)));
        // No string table at all.
        let t = SymbolTable::new(&syms, &[]).unwrap();
        assert_eq!(t.lookup(0x1000), Some((UNKNOWN, 0)));
    }

    #[test]
    fn extreme_addresses() {
        let syms = symtab(&[
            (MAIN, FUNC, 1, u64::MAX - 0xf, 0x10),
            (START, FUNC, 1, u64::MAX - 0x7, u64::MAX), // runs past the end
        ]);
        let t = SymbolTable::new(&syms, STRTAB).unwrap();
        assert_eq!(t.lookup(u64::MAX - 0x8), Some(("main", 7)));
        assert_eq!(t.lookup(u64::MAX), Some(("main", 0xf)));
        assert_eq!(t.lookup(0), None);
    }

    #[test]
    fn hash_stripping() {
        let syms = symtab(&[(MANGLED, FUNC, 1, 0x1000, 4)]);
        let t = SymbolTable::new(&syms, STRTAB).unwrap();
        let (name, _) = t.lookup(0x1000).unwrap();
        assert_eq!(without_hash(name), "_ZN4core9panicking5panic");
        for same in [
            "main",
            "",
            "_ZN17h0123456789abcdefE",            // nothing but the hash
            "_ZN4core5panic17h0123456789abcdeg",  // no final E
            "_ZN4core5panic17h0123456789abcdgfE", // not hex
            "_ZN4core5panic18h0123456789abcdefE", // not a 16-digit hash
            "_RNvCs1234_4core5panic",             // v0 mangling
            "x4core5panic17h0123456789abcdefE",   // not _ZN
        ] {
            assert_eq!(without_hash(same), same);
        }
        // Non-ASCII before the hash is fine.
        assert_eq!(without_hash("_ZN\u{e9}17h0123456789abcdefE"), "_ZN\u{e9}");
    }

    proptest! {
        #[test]
        fn random_tables_never_panic(
            symtab in proptest::collection::vec(any::<u8>(), 0..24 * 8),
            strtab in proptest::collection::vec(any::<u8>(), 0..64),
            addr in any::<u64>(),
        ) {
            if let Some((name, off)) =
                SymbolTable::new(&symtab, &strtab).and_then(|t| t.lookup(addr))
            {
                prop_assert!(off <= addr);
                let _ = without_hash(name);
            }
        }

        #[test]
        fn random_symbols_are_consistent(
            syms in proptest::collection::vec(
                (0u32..90, prop_oneof![Just(FUNC), Just(NOTYPE), any::<u8>()], 0u16..3, 0u64..0x1000, 0u64..0x200),
                0..12,
            ),
            addr in 0u64..0x1300,
        ) {
            let t = symtab(&syms);
            let t = SymbolTable::new(&t, STRTAB).unwrap();
            let found = t.lookup(addr);
            // The answer is the smallest covering function, by brute force.
            let best = syms
                .iter()
                .filter(|s| (s.1 & 0xf == STT_FUNC || (s.1 & 0xf == STT_NOTYPE && s.4 != 0)) && s.2 != 0)
                .filter(|s| addr >= s.3 && addr - s.3 < s.4.max(1))
                .min_by_key(|s| s.4.max(1));
            prop_assert_eq!(found.map(|f| f.1), best.map(|s| addr - s.3));
        }

        #[test]
        fn hash_stripping_never_panics(name in "\\PC{0,40}") {
            let s = without_hash(&name);
            prop_assert!(name.starts_with(s));
        }
    }
}
