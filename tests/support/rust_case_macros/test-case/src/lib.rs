//! A stand-in for the test-case crate's `#[test_case(args ; "description")]` (no crates.io here): the same
//! expansion's names, a module named after the function with a test per case, named by its description (else by its
//! arguments).
use proc_macro::{Delimiter, TokenStream, TokenTree};

fn case(attr: &str, name: &str) -> String {
    let (args, description) = match attr.split_once(';') {
        Some((args, description)) => (
            args.trim().to_string(),
            description.trim().trim_matches('"').to_string(),
        ),
        None => (attr.trim().to_string(), attr.to_string()),
    };
    let mut test: String = description
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !test.starts_with(|c: char| c.is_alphabetic()) {
        test = format!("_{}", test);
    }
    format!("#[test] fn {}() {{ super::{}({}) }}", test, name, args)
}

#[proc_macro_attribute]
pub fn test_case(attr: TokenStream, item: TokenStream) -> TokenStream {
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let mut attrs = vec![attr.to_string()];
    let mut rest = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        if let (TokenTree::Punct(p), Some(TokenTree::Group(g))) =
            (&tokens[index], tokens.get(index + 1))
        {
            let inner: Vec<TokenTree> = g.stream().into_iter().collect();
            if p.as_char() == '#'
                && g.delimiter() == Delimiter::Bracket
                && inner.first().map(|t| t.to_string()) == Some("test_case".into())
            {
                if let Some(TokenTree::Group(args)) = inner.get(1) {
                    attrs.push(args.stream().to_string());
                }
                index += 2;
                continue;
            }
        }
        rest.push(tokens[index].clone());
        index += 1;
    }
    let name = rest
        .iter()
        .skip_while(|t| t.to_string() != "fn")
        .nth(1)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let function: Vec<String> = rest.iter().map(|t| t.to_string()).collect();
    let tests: Vec<String> = attrs.iter().map(|a| case(a, &name)).collect();
    format!(
        "#[allow(dead_code)] {} mod {} {{ use super::*; {} }}",
        function.join(" "),
        name,
        tests.join(" ")
    )
    .parse()
    .unwrap()
}
