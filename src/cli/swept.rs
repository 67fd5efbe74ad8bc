//! A sweep on the console: a line as each point starts, and the ranked
//! table at the end (JSON lines with `--format json`).

use crate::cli::report::Reporter;
use crate::run::sweep::Ranking;

/// `sweep fit_net point 3/12: lr = 0.01, hidden = [64]` (cached or not).
pub fn print_point(name: &str, number: usize, of: usize, point: &[(String, String)], cached: bool, r: &Reporter) {
    if r.is_json() {
        let values: serde_json::Map<String, serde_json::Value> =
            point.iter().map(|(l, v)| (l.clone(), serde_json::Value::String(v.clone()))).collect();
        println!(
            "{}",
            serde_json::json!({ "item": name, "point": number, "of": of, "values": values, "cached": cached })
        );
        return;
    }
    let values: Vec<String> = point.iter().map(|(l, v)| format!("{l} = {v}")).collect();
    let cached = if cached { " (cached)" } else { "" };
    r.note(&format!("  {:<10} {name:<20} point {number}/{of}: {}{cached}", "sweep", values.join(", ")));
}

/// The ranked table: rank, point, each swept value, the objective,
/// epochs (kept/trained), seconds.
pub fn print_ranking(name: &str, ranking: &Ranking, r: &Reporter) {
    if r.is_json() {
        let points: Vec<serde_json::Value> = ranking
            .points
            .iter()
            .map(|p| {
                let values: serde_json::Map<String, serde_json::Value> =
                    p.point.iter().map(|(l, v)| (l.clone(), serde_json::Value::String(v.clone()))).collect();
                serde_json::json!({
                    "point": p.number, "values": values, "objective": p.objective, "epochs": p.epochs,
                    "kept_epoch": p.kept_epoch, "pruned_at": p.pruned_at, "failed": p.failed, "seconds": p.seconds, "cached": p.cached,
                    "run": p.run_dir.display().to_string(),
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "item": name, "objective": ranking.objective, "ranking": points }));
        return;
    }
    let better = if ranking.lower_is_better { "lower" } else { "higher" };
    let points =
        if ranking.points.len() == 1 { "1 point".to_owned() } else { format!("{} points", ranking.points.len()) };
    r.note(&format!(
        "  {:<10} {name:<20} {points} ranked by {} ({better} is better); the best is the run's result",
        "sweep", ranking.objective
    ));
    let labels: Vec<String> =
        ranking.points.first().map(|p| p.point.iter().map(|(l, _)| l.clone()).collect()).unwrap_or_default();
    let mut rows = vec![header(&labels, &ranking.objective)];
    for (rank, p) in ranking.points.iter().enumerate() {
        let mut row = vec![(rank + 1).to_string(), p.number.to_string()];
        row.extend(p.point.iter().map(|(_, v)| v.clone()));
        row.push(p.objective.map_or_else(|| "-".into(), |v| format!("{v:.4}")));
        let pruned = if p.pruned_at.is_some() { " pruned" } else { "" };
        match &p.failed {
            Some(_) => row.push("failed".into()),
            None => row.push(format!("{}/{}{pruned}", p.kept_epoch, p.epochs)),
        }
        row.push(if p.cached { format!("{:.1} cached", p.seconds) } else { format!("{:.1}", p.seconds) });
        rows.push(row);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        r.note(&format!("    {}", cells.join("  ").trim_end()));
    }
}

fn header(labels: &[String], objective: &str) -> Vec<String> {
    let mut row = vec!["rank".to_owned(), "point".to_owned()];
    row.extend(labels.iter().cloned());
    row.extend([objective.to_owned(), "kept/epochs".to_owned(), "seconds".to_owned()]);
    row
}
