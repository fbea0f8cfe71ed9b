//! A stand-in for rstest's `#[rstest]` with `#[case(...)]` (no crates.io here): the same expansion's names, a module
//! named after the function with a `case_N` (`case_N_description`) test per case, or the function itself as a
//! test when it has no cases.
use proc_macro::{Delimiter, TokenStream, TokenTree};

#[proc_macro_attribute]
pub fn rstest(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let mut cases: Vec<(String, String)> = Vec::new(); // (name suffix, arguments)
    let mut rest = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        if let (TokenTree::Punct(p), Some(TokenTree::Group(g))) =
            (&tokens[index], tokens.get(index + 1))
        {
            let inner: Vec<TokenTree> = g.stream().into_iter().collect();
            if p.as_char() == '#'
                && g.delimiter() == Delimiter::Bracket
                && inner.first().map(|t| t.to_string()) == Some("case".into())
            {
                let mut suffix = String::new();
                let mut args = String::new();
                for token in &inner[1..] {
                    match token {
                        TokenTree::Ident(name) => suffix = format!("_{}", name),
                        TokenTree::Group(group) => args = group.stream().to_string(),
                        _ => {}
                    }
                }
                cases.push((suffix, args));
                index += 2;
                continue;
            }
        }
        rest.push(tokens[index].clone());
        index += 1;
    }
    let mut name = String::new();
    let mut out = Vec::new();
    let mut after_fn = false;
    for token in rest {
        match &token {
            TokenTree::Ident(ident) if after_fn && name.is_empty() => name = ident.to_string(),
            TokenTree::Ident(ident) if ident.to_string() == "fn" => after_fn = true,
            TokenTree::Group(group)
                if group.delimiter() == Delimiter::Parenthesis && !name.is_empty() =>
            {
                let params = group
                    .stream()
                    .to_string()
                    .replace("# [case]", "")
                    .replace("#[case]", "");
                out.push(format!("({})", params));
                continue;
            }
            _ => {}
        }
        out.push(token.to_string());
    }
    let function = out.join(" ");
    if cases.is_empty() {
        return format!("#[test] {}", function).parse().unwrap();
    }
    let tests: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(n, (suffix, args))| {
            format!(
                "#[test] fn case_{}{}() {{ super::{}({}) }}",
                n + 1,
                suffix,
                name,
                args
            )
        })
        .collect();
    format!(
        "#[allow(dead_code)] {} mod {} {{ use super::*; {} }}",
        function,
        name,
        tests.join(" ")
    )
    .parse()
    .unwrap()
}
