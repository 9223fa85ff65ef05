//! Phone-number normalisation: never a panic, and what parses is E.164 that
//! parses again to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linewise::domain::{E164, Region};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for region in [Region::default(), Region::parse("US").unwrap()] {
        if let Ok(n) = E164::parse("phoneNumber", s, region) {
            assert!(n.as_str().starts_with('+'));
            let again = E164::parse("phoneNumber", n.as_str(), region).expect("E.164 reparses");
            assert_eq!(again, n);
            let _ = n.human();
            let _ = n.masked();
        }
    }
});
