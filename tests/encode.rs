//! `encode` and `embedding`: the ids against ones worked out from the raw
//! CSV here, the unseen rows' warning, and the example pipeline trained,
//! evaluated and predicted end to end (the layer's arithmetic against
//! PyTorch is `train::an_embedding_step_equals_pytorch`).

use std::collections::{BTreeSet, HashSet};

use pipe::run::Event;

use crate::run::{repo, scratch};
use crate::train::run_events;

/// The `people.csv` rows as (age, city, label), read without pipe.
fn people() -> Vec<(i64, String)> {
    let text = std::fs::read_to_string(repo().join("data/people.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').map(|h| h.trim_matches('"')).collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (age, city) = (at("age"), at("city"));
    lines
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            (fields[age].parse().unwrap(), fields[city].to_string())
        })
        .collect()
}

/// A CSV column as text, by name.
fn column(path: &std::path::Path, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let at = lines.next().unwrap().split(',').position(|h| h == name).unwrap();
    lines.map(|l| l.split(',').nth(at).unwrap().to_string()).collect()
}

#[test]
fn encode_numbers_the_sorted_levels_and_gives_unfitted_ones_zero() {
    let dir = scratch("encode_ids");
    let text = format!(
        r#"
source people = csv("{}/data/people.csv")

stage young = people |> filter(age < 15)

transform codes = fit(young) {{
    encode(city)
}}

output encoded = codes(people) |> write("encoded.csv")
"#,
        repo().display()
    );
    let mut warnings = Vec::new();
    let errors = run_events(&dir, &text, false, &mut |e| {
        if let Event::Warning(w) = e {
            warnings.push(w.to_string());
        }
    });
    assert!(errors.is_empty(), "{errors:?}");
    // The reference: every level, sorted, numbered from 1; those no row
    // under 15 has are 0.
    let rows = people();
    let levels: BTreeSet<&str> = rows.iter().map(|(_, c)| c.as_str()).collect();
    let fitted: HashSet<&str> = rows.iter().filter(|(a, _)| *a < 15).map(|(_, c)| c.as_str()).collect();
    let expected: Vec<String> = rows
        .iter()
        .map(|(_, c)| {
            let id = levels.iter().position(|l| *l == c).unwrap() + 1;
            if fitted.contains(c.as_str()) { id.to_string() } else { "0".into() }
        })
        .collect();
    let got = column(&dir.join("encoded.csv"), "city");
    assert_eq!(got, expected);
    let unseen = expected.iter().filter(|id| *id == "0").count();
    assert!(unseen > 0 && fitted.len() < levels.len(), "the test needs cities the fit rows lack");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(&format!("{unseen} rows have levels of `city` not seen when fitting")),
        "{warnings:?}"
    );
}

/// The example trains, reaches what the same network reaches with the
/// city one-hot encoded (50 columns instead of 4 learned numbers), and the
/// test rows it writes hold the cities' ids.
#[test]
fn the_embedding_example_learns_as_well_as_onehot() {
    let example = std::fs::read_to_string(repo().join("pipelines/people_embed.pipe"))
        .unwrap()
        .replace("\"../data/", &format!("\"{}/data/", repo().display()));
    let accuracy = |name: &str, text: &str| {
        let mut scores = Vec::new();
        let dir = scratch(name);
        let errors = run_events(&dir, text, false, &mut |e| {
            if let Event::Evaluated { scores: s, .. } = e {
                scores.push(s.accuracy.unwrap());
            }
        });
        assert!(errors.is_empty(), "{errors:?}");
        (scores[0], dir)
    };
    let (embedded, dir) = accuracy("embed_example", &example);
    let onehot = example
        .replace("encode(city, age_group)", "onehot(city, age_group)")
        .replace("embed_mlp(dim: 4, hidden: [64], out: 2, dropout: 0.2)", "mlp(hidden: [64], out: 2, dropout: 0.2)")
        .replace("import std.models { embed_mlp }", "import std.models { mlp }");
    let (one_hot, _) = accuracy("embed_example_onehot", &onehot);
    assert!(embedded > 0.7, "embedding: {embedded}");
    eprintln!("accuracy: embedding {embedded}, one-hot {one_hot}");
    assert!(embedded >= one_hot - 0.03, "embedding {embedded} vs one-hot {one_hot}");
    let written = dir.join("out/people_embed_test.csv");
    let ids = column(&written, "city");
    assert!(ids.iter().all(|id| id.parse::<i64>().is_ok_and(|i| (0..=50).contains(&i))), "{ids:?}");
}

/// A saved model with an embedding loads on data encoded like its own, and
/// is refused, before any training, on data whose encoded column has
/// another number of ids (its table could not look them up).
#[test]
fn a_saved_embedding_loads_only_on_tables_of_its_size() {
    use pipe::source::SourceMap;

    let dir = scratch("embed_saved");
    let rows = std::fs::read_to_string(repo().join("data/people.csv")).unwrap();
    std::fs::write(dir.join("people.csv"), &rows).unwrap();
    // The first 40 rows have fewer cities than the whole file.
    std::fs::write(dir.join("few.csv"), rows.lines().take(41).collect::<Vec<_>>().join("\n")).unwrap();
    let save = r#"
import std.models { embed_mlp }
source people = csv("people.csv")
transform codes = fit(people) {
    standard(age, income)
    encode(city)
}
train first = embed_mlp(dim: 3, hidden: [8]) on codes(people) {
    target: label
    epochs: 1
    save: "saved"
}
"#;
    let errors = run_events(&dir, save, false, &mut |_| {});
    assert!(errors.is_empty(), "{errors:?}");
    let load = |file: &str| {
        format!(
            r#"
source people = csv("{file}")
transform codes = fit(people) {{
    standard(age, income)
    encode(city)
}}
train again = load("saved") on codes(people) {{
    target: label
    epochs: 1
}}
"#
        )
    };
    let errors = run_events(&dir, &load("people.csv"), false, &mut |_| {});
    assert!(errors.is_empty(), "{errors:?}");
    let text = load("few.csv");
    let mut sources = SourceMap::new();
    let id = sources.add(dir.join("main.pipe").display().to_string(), text.as_str());
    let parsed = pipe::syntax::parse(&text, id);
    let report = pipe::check::check(&parsed.program, &mut sources, Some(&dir));
    let messages: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0]
            .starts_with("the loaded model's embedding has `city` 51 ids; this data's encoded columns have `city` "),
        "{messages:?}"
    );
}

/// A class the checker knows but the training rows lack keeps its output:
/// the run's classes are the checker's (the model has an output each), so
/// predictions name real classes, each row's probabilities add up to 1
/// (the missing class gets what the model gives it) and evaluating on rows
/// of that class works.
#[test]
fn a_class_missing_from_the_training_rows_keeps_its_output() {
    let dir = scratch("missing_class");
    let text = format!(
        r#"
source iris = csv("{}/data/iris.csv")
stage c = iris |> drop(label) |> cut(petal_length_cm, [0, 2, 5, 10], labels: [short, mid, long])
stage tr = c |> filter(petal_width_cm < 0.5 or petal_width_cm > 2.0)
model m {{
    dense(3)
}}
train mr = m on tr {{
    target: petal_length_cm
    epochs: 5
}}
output c |> predict(mr, probabilities: true) |> write("out/all.csv")
evaluate mr on c {{
    metrics: [accuracy]
}}
"#,
        repo().display()
    );
    let mut evaluated = false;
    let errors = run_events(&dir, &text, false, &mut |e| evaluated |= matches!(e, Event::Evaluated { .. }));
    assert!(errors.is_empty(), "{errors:?}");
    assert!(evaluated, "the evaluation ran on rows of the missing class");
    let written = dir.join("out/all.csv");
    let predictions = column(&written, "prediction");
    assert!(predictions.iter().all(|p| ["short", "mid", "long"].contains(&p.as_str())), "{predictions:?}");
    let classes: Vec<Vec<f64>> = ["long", "mid", "short"]
        .iter()
        .map(|c| column(&written, &format!("probability_{c}")).iter().map(|p| p.parse().unwrap()).collect())
        .collect();
    let sums: Vec<f64> = (0..predictions.len()).map(|i| classes.iter().map(|c| c[i]).sum()).collect();
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
}

/// A high-cardinality column (the case embeddings are for) keeps an id per
/// level: 700 distinct ids, every one numbered, none sharing 0.
#[test]
fn encode_numbers_hundreds_of_levels() {
    let dir = scratch("encode_many");
    let mut csv = String::from("uid,label\n");
    for i in 0..2100 {
        csv.push_str(&format!("u{},{}\n", (i * 3) % 700, i % 2));
    }
    std::fs::write(dir.join("ids.csv"), csv).unwrap();
    let text = "source d = csv(\"ids.csv\")\ntransform codes = fit(d) {\n    encode(uid)\n}\noutput all = codes(d) |> write(\"out.csv\")\n";
    let errors = run_events(&dir, text, false, &mut |_| {});
    assert!(errors.is_empty(), "{errors:?}");
    let ids: BTreeSet<i64> = column(&dir.join("out.csv"), "uid").iter().map(|v| v.parse().unwrap()).collect();
    assert_eq!(ids, (1..=700).collect::<BTreeSet<i64>>());
}
