//! The "did you mean" for a setting that does not exist.
use crate::spelling::edit_distance;

/// The known key closest to `unknown`, if it is close enough to be a slip of the keyboard.
pub fn closest<'a>(unknown: &str, known: &'a [String]) -> Option<&'a str> {
    // Far longer than every key: no slip, and the distance would cost its length squared.
    let longest = known.iter().map(String::len).max().unwrap_or_default();
    if unknown.len() > 2 * longest {
        return None;
    }
    let unknown = unknown.to_ascii_lowercase();
    known
        .iter()
        .map(|key| (edit_distance(&unknown, key), key))
        .filter(|(distance, key)| *distance <= (key.len() / 4).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, key)| key.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slip_of_the_keyboard_finds_the_setting_it_meant() {
        let known: Vec<String> = ["http.api_keys", "integration_log.enabled", "http.listen"]
            .map(String::from)
            .into();

        assert_eq!(closest("http.api_key", &known), Some("http.api_keys"));
        assert_eq!(
            closest("integration_log.enabeld", &known),
            Some("integration_log.enabled")
        );
        assert_eq!(closest("database.something_else", &known), None);
    }
}
