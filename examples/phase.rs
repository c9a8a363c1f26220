use std::time::Instant;
use switchyard::routes::{parse, compile, Options, SourceFile, Sources};
fn main() {
    let text = std::fs::read_to_string("/tmp/gen.route").unwrap();
    let sources = Sources::new(vec![SourceFile::new("g.route", text.clone())]);
    for _ in 0..3 {
        let t = Instant::now();
        let (file, d) = parse::parse_file(0, &text);
        let p = t.elapsed();
        let t = Instant::now();
        let c = compile::compile(&sources, &[file], &Options::default());
        println!("parse {:?} compile {:?} {} {}", p, t.elapsed(), d.len(), c.diagnostics.len());
    }
}
