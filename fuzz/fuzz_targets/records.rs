//! Any bytes, read as a task's stdin and parsed as each record type: no panic, every
//! error names a line, and every record that parses prints back to a line that parses
//! to the same record.
#![no_main]

use campanile::input::InputLines;
use campanile::record::{CopiedPartRecord, ListingRecord, PartRecord};
use campanile::stream::StreamIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for index in [StreamIndex::SHELL, StreamIndex::NLINE_MAPPER] {
        for line in InputLines::new(data, index) {
            let Ok(line) = line else {
                break;
            };
            if let Ok(record) = ListingRecord::parse(&line.text) {
                assert_eq!(ListingRecord::parse(&record.to_line()).ok(), Some(record));
            }
            if let Ok(record) = PartRecord::parse(&line.text) {
                if let Some(part) = &record.part {
                    assert!(part.first_byte <= part.last_byte);
                    assert!(part.last_byte < record.object.size);
                }
                assert_eq!(PartRecord::parse(&record.to_line()).ok(), Some(record));
            }
            if let Ok(record) = CopiedPartRecord::parse(&line.text) {
                assert_eq!(CopiedPartRecord::parse(&record.to_line()).ok(), Some(record));
            }
        }
    }
});
