//! CSV for spreadsheets: text cells a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
//! tab or carriage return first) get a leading `'`, and numbers stay numbers (a refund's
//! negative amount must sum, not be text).

/// One cell.
pub enum Cell {
    Text(String),
    /// A number we wrote ourselves (`-12.50`, `3`): written as it is.
    Number(String),
}

impl Cell {
    fn write(&self) -> String {
        match self {
            Cell::Number(n) if is_number(n) => n.clone(),
            Cell::Number(n) | Cell::Text(n) => text(n),
        }
    }
}

fn is_number(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// A text cell: quoted when it must be, and never a formula.
pub fn text(value: &str) -> String {
    let value = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// One line, with the CRLF spreadsheets expect.
pub fn row(cells: &[Cell]) -> String {
    let mut line = cells.iter().map(Cell::write).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cells_are_quoted_and_never_formulas() {
        assert_eq!(text("Canvas tote"), "Canvas tote");
        assert_eq!(text("a, b"), "\"a, b\"");
        assert_eq!(text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(text("-2"), "'-2");
        assert_eq!(text("@sum"), "'@sum");
    }

    #[test]
    fn formulas_are_defused_and_numbers_stay_numbers() {
        let line = row(&[
            Cell::Text("=HYPERLINK(\"http://evil\",\"x\")".into()),
            Cell::Text("-2+3".into()),
            Cell::Number("-12.50".into()),
            Cell::Number("1500".into()),
            Cell::Number("=1+1".into()),
            Cell::Text("a, b".into()),
        ]);
        assert_eq!(
            line,
            "\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",'-2+3,-12.50,1500,'=1+1,\"a, b\"\r\n"
        );
    }
}
