//! Statements as PDF (A4, the base-14 Helvetica fonts: no font files to ship).

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

use super::Statement;

/// Text in the fonts' WinAnsi encoding (Latin-1 for what statements contain;
/// anything else becomes `?`).
fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{ff}' => c as u8,
            '\u{2013}' => 0x96,
            '\u{2014}' => 0x97,
            '\u{2026}' => 0x85,
            _ => b'?',
        })
        .collect()
}

/// The statement as a one-page (or longer) PDF document.
pub fn statement(s: &Statement) -> Vec<u8> {
    const TOP: f32 = 800.0;
    const BOTTOM: f32 = 60.0;
    let (regular, bold) = (Name(b"F1"), Name(b"F2"));
    let (catalog, tree, regular_id, bold_id) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4));
    let mut next = 5;

    // Lines of text, laid out top to bottom, split over pages as needed.
    let mut rows: Vec<(bool, f32, f32, String)> = vec![
        (true, 18.0, 50.0, format!("Billing statement {}", s.number)),
        (
            false,
            11.0,
            50.0,
            format!("{} - {}", s.account_name, s.month),
        ),
        (false, 11.0, 50.0, String::new()),
    ];
    for l in &s.lines {
        rows.push((true, 10.0, 50.0, format!("{} - {}", l.location, l.item)));
        rows.push((
            false,
            10.0,
            62.0,
            format!(
                "{}/{} × ${} = ${}   ({})",
                l.days, l.days_in_month, l.monthly_price, l.amount, l.periods
            ),
        ));
    }
    rows.push((false, 11.0, 50.0, String::new()));
    rows.push((
        true,
        13.0,
        50.0,
        format!("Total due: ${} USD, by {}", s.total, s.due_date),
    ));
    rows.push((
        false,
        10.0,
        50.0,
        format!("View or dispute this statement: {}", s.portal_url),
    ));

    let mut pdf = Pdf::new();
    let mut pages: Vec<(Ref, Ref, Vec<u8>)> = Vec::new();
    let mut content = Content::new();
    let mut y = TOP;
    let flush = |content: Content, pages: &mut Vec<(Ref, Ref, Vec<u8>)>, next: &mut i32| {
        let (page, stream) = (Ref::new(*next), Ref::new(*next + 1));
        *next += 2;
        pages.push((page, stream, content.finish().into_vec()));
    };
    for (is_bold, size, x, text) in rows {
        if y < BOTTOM {
            flush(
                std::mem::replace(&mut content, Content::new()),
                &mut pages,
                &mut next,
            );
            y = TOP;
        }
        content.begin_text();
        content.set_font(if is_bold { bold } else { regular }, size);
        content.next_line(x, y);
        content.show(Str(&win_ansi(&text)));
        content.end_text();
        y -= size * 1.6;
    }
    flush(content, &mut pages, &mut next);

    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(pages.iter().map(|(p, _, _)| *p))
        .count(pages.len() as i32);
    for (page, stream, data) in &pages {
        let mut p = pdf.page(*page);
        p.media_box(Rect::new(0.0, 0.0, 595.0, 842.0));
        p.parent(tree);
        p.contents(*stream);
        p.resources()
            .fonts()
            .pair(regular, regular_id)
            .pair(bold, bold_id);
        p.finish();
        pdf.stream(*stream, data);
    }
    pdf.type1_font(regular_id)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold_id)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.finish()
}
