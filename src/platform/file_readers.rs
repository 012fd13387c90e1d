//! Who besides the owner, the system and administrators may read a file, read from what the
//! system shows: the mode bits on Unix, an `icacls` listing on Windows (no unsafe code and no
//! ACL crate; the broad groups are matched by their English names and their SIDs). Pure: the
//! platform files ask the system and hand the answer here.

/// Group and other read bits, as `ls -l` shows them.
pub fn readers_by_mode(mode: u32) -> Option<String> {
    match (mode & 0o040 != 0, mode & 0o004 != 0) {
        (false, false) => None,
        (true, false) => Some("its group".to_owned()),
        (false, true) => Some("every user".to_owned()),
        (true, true) => Some("its group and every user".to_owned()),
    }
}

/// The broad groups an `icacls FILE` listing lets read the file: Users, Authenticated Users,
/// Everyone (by English name, or by SID where icacls cannot name them).
pub fn readers_by_icacls(listing: &str) -> Option<String> {
    const GROUPS: [(&str, &[&str]); 3] = [
        ("Users", &["BUILTIN\\Users:", "*S-1-5-32-545:"]),
        (
            "Authenticated Users",
            &["NT AUTHORITY\\Authenticated Users:", "*S-1-5-11:"],
        ),
        ("Everyone", &["Everyone:", "*S-1-1-0:"]),
    ];
    const READING: [&str; 7] = ["(F)", "(M)", "(RX)", "(R)", "(GR)", "(GA)", "(RD)"];
    let readers: Vec<&str> = GROUPS
        .iter()
        .filter(|(_, names)| {
            listing.lines().any(|line| {
                names.iter().any(|name| {
                    line.find(name).is_some_and(|at| {
                        let rights = &line[at + name.len()..];
                        !rights.contains("(DENY)") && READING.iter().any(|r| rights.contains(r))
                    })
                })
            })
        })
        .map(|(group, _)| *group)
        .collect();
    if readers.is_empty() {
        None
    } else {
        Some(readers.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_or_other_read_bits_make_a_file_readable_by_others() {
        assert_eq!(readers_by_mode(0o100600), None);
        assert_eq!(readers_by_mode(0o100700), None);
        assert_eq!(readers_by_mode(0o100640).as_deref(), Some("its group"));
        assert_eq!(
            readers_by_mode(0o100644).as_deref(),
            Some("its group and every user")
        );
        assert_eq!(readers_by_mode(0o100604).as_deref(), Some("every user"));
    }

    #[test]
    fn users_reading_by_inheritance_is_found_in_an_icacls_listing() {
        let listing = "C:\\ProgramData\\qoe-data-service\\qoe.toml BUILTIN\\Users:(I)(RX)\r\n\
            \x20                                        NT AUTHORITY\\SYSTEM:(I)(F)\r\n\
            \x20                                        BUILTIN\\Administrators:(I)(F)\r\n\
            \r\nSuccessfully processed 1 files; Failed processing 0 files\r\n";

        assert_eq!(readers_by_icacls(listing).as_deref(), Some("Users"));
    }

    #[test]
    fn a_file_only_system_administrators_and_the_account_read_is_not_flagged() {
        let listing = "C:\\ProgramData\\qoe-data-service\\qoe.toml NT AUTHORITY\\SYSTEM:(F)\r\n\
            \x20   BUILTIN\\Administrators:(F)\r\n\
            \x20   NT AUTHORITY\\LOCAL SERVICE:(R)\r\n\
            \x20   Everyone:(DENY)(R)\r\n";

        assert_eq!(readers_by_icacls(listing), None);
    }

    #[test]
    fn everyone_and_authenticated_users_by_sid_are_flagged_too() {
        let listing = "qoe.toml *S-1-1-0:(R)\r\n    *S-1-5-11:(I)(M)\r\n";

        assert_eq!(
            readers_by_icacls(listing).as_deref(),
            Some("Authenticated Users, Everyone")
        );
    }
}
