use lastmile::lang::LangId;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let lang: LangId = args[1].parse().unwrap();
    let text = std::fs::read_to_string(&args[2]).unwrap();
    let items: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let field = &args[3];
    let mut bad = 0;
    for v in &items {
        let s = v[field.as_str()].as_str().unwrap();
        if let Err(e) = lang.language().check(s) { bad += 1; println!("{e}: {s:?}"); }
    }
    println!("{bad}/{} rejected", items.len());
}
