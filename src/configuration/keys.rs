//! The "did you mean" for a setting that does not exist.

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

/// Levenshtein distance, counting a swap of two neighbours as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
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
