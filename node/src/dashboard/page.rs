//! The page: its HTML, style and script joined into one document, and the
//! Content-Security-Policy that lets exactly its inline script and style run.

use base64::Engine as _;

/// The page, its style and its script, embedded and joined into one
/// document at start (one request; nothing else to authorise).
const PAGE_HTML: &str = include_str!("assets/index.html");
const PAGE_CSS: &str = include_str!("assets/style.css");
const PAGE_JS: &str = include_str!("assets/app.js");

/// The page with its style and script inlined.
pub(super) fn document() -> String {
    PAGE_HTML
        .replacen("/*STYLE*/", PAGE_CSS, 1)
        .replacen("/*SCRIPT*/", PAGE_JS, 1)
}

/// The page as a file (`--html`): the run's final `data` inside, in a JSON
/// block the script reads instead of the API, and the policy in a `<meta>`
/// (a file has no headers) that lets nothing load or connect.
pub(crate) fn report_document(data: &serde_json::Value) -> String {
    // In the head: parsed before the script at the end of the body runs.
    let block = format!(
        "<script type=\"application/json\" id=\"lps-report\">{}</script>\n</head>",
        embeddable(&data.to_string())
    );
    let doc = document().replacen("</head>", &block, 1);
    let meta = format!(
        "{CHARSET}\n<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">",
        file_policy(&doc)
    );
    doc.replacen(CHARSET, &meta, 1)
}

/// The page's first element: the policy's `<meta>` goes right after it,
/// before anything it governs.
const CHARSET: &str = "<meta charset=\"utf-8\">";

/// JSON text that cannot end or open an element inside `<script>`: `<`,
/// `>` and `&` (only ever inside JSON strings) become `\u` escapes.
fn embeddable(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The file's policy: the page's inline script and style by hash, its empty
/// icon; no connection, no other resource, no `<base>`, no form.
fn file_policy(document: &str) -> String {
    let scripts: Vec<String> = inline_blocks(document, "script").map(hash_source).collect();
    let styles: Vec<String> = inline_blocks(document, "style").map(hash_source).collect();
    format!(
        "default-src 'none'; script-src {}; style-src {}; img-src data:; base-uri 'none'; \
         form-action 'none'",
        scripts.join(" "),
        styles.join(" "),
    )
}

/// The policy sent with every answer: nothing loads or runs but the page's
/// own inline scripts and style (named by hash, so that an injected one
/// would not run), its API calls and feed (`connect-src 'self'`) and its
/// empty icon (`data:`); no framing, no forms, no `<base>`.
pub(super) fn content_security_policy(document: &str) -> String {
    let scripts = inline_blocks(document, "script").map(hash_source);
    let styles = inline_blocks(document, "style").map(hash_source);
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
         img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        scripts.collect::<Vec<_>>().join(" "),
        styles.collect::<Vec<_>>().join(" "),
    )
}

/// The text of every `<tag>...</tag>` in `document`, as the browser hashes
/// it (exactly the bytes between the tags).
fn inline_blocks<'a>(document: &'a str, tag: &str) -> impl Iterator<Item = &'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut rest = document;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let len = rest[start..].find(&close)?;
        let block = &rest[start..start + len];
        rest = &rest[start + len + close.len()..];
        Some(block)
    })
}

/// A CSP hash source: `'sha256-BASE64'`.
fn hash_source(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_the_bytes_between_their_tags() {
        let doc = "<script>a()</script><style>b{}</style>x<script></script><script>c";
        assert_eq!(
            inline_blocks(doc, "script").collect::<Vec<_>>(),
            vec!["a()", ""]
        );
        assert_eq!(inline_blocks(doc, "style").collect::<Vec<_>>(), vec!["b{}"]);
    }

    #[test]
    fn hash_sources_are_sha256_in_base64() {
        // The CSP3 specification's example: alert('Hello, world.');
        assert_eq!(
            hash_source("alert('Hello, world.');"),
            "'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='"
        );
    }

    #[test]
    fn the_report_file_holds_its_data_and_a_policy_that_lets_nothing_connect() {
        let data =
            serde_json::json!({"summary": {"test": "</script><script>alert(1)</script> & more"}});
        let doc = report_document(&data);
        let meta = doc
            .find("<meta http-equiv=\"Content-Security-Policy\"")
            .unwrap();
        assert!(
            meta < doc.find("<script").unwrap(),
            "the policy comes first"
        );
        let policy = &doc[meta..doc[meta..].find('>').unwrap() + meta];
        assert!(
            policy.contains("default-src 'none'; script-src 'sha256-"),
            "{policy}"
        );
        assert!(!policy.contains("connect-src"), "{policy}");
        // The page's two scripts run; the data block is no script.
        for block in inline_blocks(&doc, "script") {
            assert!(policy.contains(&hash_source(block)), "{policy}");
        }
        assert_eq!(inline_blocks(&doc, "script").count(), 2);
        let open = "<script type=\"application/json\" id=\"lps-report\">";
        let start = doc.find(open).unwrap() + open.len();
        assert!(start < doc.find("</head>").unwrap());
        let text = &doc[start..start + doc[start..].find("</script>").unwrap()];
        let back: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, data, "the data survives its escapes whole");
        assert!(!text.contains('<'), "{text}");
    }

    #[test]
    fn the_policy_names_each_inline_script_and_style_of_the_page() {
        let doc = document();
        let policy = content_security_policy(&doc);
        let scripts: Vec<&str> = inline_blocks(&doc, "script").collect();
        // The error reporter in the head, and the page's script.
        assert_eq!(scripts.len(), 2, "{policy}");
        assert!(scripts[1].contains("EventSource"));
        for block in scripts {
            let source = hash_source(block);
            assert!(policy.contains(&format!(" {source}")), "{policy}");
        }
        let styles: Vec<&str> = inline_blocks(&doc, "style").collect();
        assert_eq!(styles.len(), 1, "{policy}");
        assert!(policy.contains(&format!("style-src {};", hash_source(styles[0]))));
        assert!(policy.starts_with("default-src 'none'; "), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    }
}
