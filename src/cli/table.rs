//! Left-aligned columns as Kafka's tools print them: each column as wide as its widest cell
//! (at least its header), one space apart, the last column unpadded.

/// A table of text cells.
#[derive(Debug)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The header and rows, each line ending in a newline.
    pub(crate) fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for line in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in line.iter().enumerate().take(columns) {
                if i + 1 == columns {
                    out.push_str(cell);
                } else {
                    out.push_str(&format!("{cell:<width$} ", width = widths[i]));
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_the_widest_cell() {
        let mut table = Table::new(&["GROUP", "TOPIC", "LAG"]);
        table.row(vec!["g".into(), "a-long-topic".into(), "0".into()]);
        table.row(vec!["group-two".into(), "t".into(), "12".into()]);
        assert_eq!(
            table.render(),
            "GROUP     TOPIC        LAG\ng         a-long-topic 0\ngroup-two t            12\n"
        );
    }
}
