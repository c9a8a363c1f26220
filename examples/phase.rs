use pest::Parser;
use std::time::Instant;
use switchyard::routes::grammar::{RouteParser, Rule};
use switchyard::routes::{compile, parse, Options, SourceFile, Sources};
fn main() {
    let text = std::fs::read_to_string("/tmp/gen.route").unwrap();
    let sources = Sources::new(vec![SourceFile::new("g.route", text.clone())]);
    for _ in 0..3 {
        let t = Instant::now();
        let n = RouteParser::parse(Rule::file, &text).unwrap().flatten().count();
        let raw = t.elapsed();
        let t = Instant::now();
        let (file, d) = parse::parse_file(0, &text);
        let p = t.elapsed();
        let t = Instant::now();
        let c = compile::compile(&sources, &[file], &Options::default());
        let json = serde_json::to_string(c.plan.as_ref().unwrap()).unwrap();
        println!("raw pest {raw:?} ({n} pairs) parse {p:?} compile {:?} {} {} plan {} KiB", t.elapsed(), d.len(), c.diagnostics.len(), json.len() / 1024);
    }
}
