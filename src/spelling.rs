//! How far apart two names are, for the "did you mean" of a misspelt setting and the step
//! names `check` offers for one that does not exist. A leaf: it imports nothing of ours.

/// Levenshtein distance, counting a swap of two neighbours as one edit.
pub fn edit_distance(a: &str, b: &str) -> usize {
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

/// `names` ordered by their distance to `wanted`, ignoring case, nearest first; equally near
/// names keep their order.
pub fn nearest_first<T>(wanted: &str, names: &mut [T], name: impl Fn(&T) -> &str) {
    let wanted = wanted.to_lowercase();
    names.sort_by_cached_key(|candidate| edit_distance(&wanted, &name(candidate).to_lowercase()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_of_neighbours_is_one_edit() {
        assert_eq!(edit_distance("Process Cube", "Porcess Cube"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn names_are_ordered_nearest_first_whatever_their_case() {
        let mut names = [
            "Backup",
            "process cube",
            "QoE Archive Data",
            "Process Cubes",
        ];

        nearest_first("Process Cub", &mut names, |name| name);

        assert_eq!(
            names,
            [
                "process cube",
                "Process Cubes",
                "Backup",
                "QoE Archive Data"
            ]
        );
    }
}
