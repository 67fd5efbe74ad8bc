//! `pipe serve`: a trained iris run behind HTTP on 127.0.0.1 (a free
//! port), answering as the pipeline's own `predict` (the reference): the
//! same classes and probabilities for JSON rows and for CSV, concurrent
//! requests each answered with their own rows, bad requests refused with
//! `pipe predict`'s coded diagnostic, and SIGTERM answering what it took.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::run::{repo, scratch};

/// A trained iris run: its folder, and the pipeline's own predictions
/// (with probabilities) for every row of iris.csv.
fn trained() -> (PathBuf, String) {
    let dir = scratch("serve");
    let text = std::fs::read_to_string(repo().join("pipelines/iris.pipe"))
        .unwrap()
        .replace("\"../data/", &format!("\"{}/data/", repo().display()))
        + "\noutput chances = prep(iris) |> predict(species, probabilities: true) |> write(\"out/chances.csv\")\n";
    std::fs::write(dir.join("main.pipe"), text).unwrap();
    // Run from its own folder (the file named without one), served from
    // another: the saved pipeline's paths start where it was.
    let ran =
        Command::new(env!("CARGO_BIN_EXE_pipe")).current_dir(&dir).args(["run", "--no-cache", "main.pipe"]).output();
    let ran = ran.unwrap();
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let run = std::fs::read_dir(dir.join("runs/species")).unwrap().flatten().find(|e| e.path().is_dir()).unwrap();
    (run.path(), std::fs::read_to_string(dir.join("out/chances.csv")).unwrap())
}

/// `pipe serve` on a free port: the process and its address.
fn start(run: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipe"))
        .arg("serve")
        .arg(run)
        .args(["--port", "0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("pipe serve says where it listens").unwrap();
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split(':').take(2).collect::<Vec<_>>().join(":");
        }
    };
    // The rest of its output, read so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, address)
}

/// A request; the status and the JSON body.
fn request(address: &str, method: &str, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    answer_to(send(address, method, path, content_type, body))
}

/// A request sent (its body written, so a large one has been read by the
/// server when this returns).
fn send(address: &str, method: &str, path: &str, content_type: &str, body: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    stream
}

/// The status and JSON body of a sent request's response.
fn answer_to(mut stream: TcpStream) -> (u16, Value) {
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// iris.csv's rows without their label, as JSON objects and as CSV.
fn rows() -> (Vec<Value>, String) {
    let iris = std::fs::read_to_string(repo().join("data/iris.csv")).unwrap();
    let mut lines = iris.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut objects = Vec::new();
    let mut csv = header[..4].join(",") + "\n";
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let object: serde_json::Map<String, Value> =
            (0..4).map(|i| (header[i].to_owned(), json!(cells[i].parse::<f64>().unwrap()))).collect();
        objects.push(Value::Object(object));
        csv += &(cells[..4].join(",") + "\n");
    }
    (objects, csv)
}

/// A column of the reference CSV.
fn column(csv: &str, name: &str) -> Vec<String> {
    let at = csv.lines().next().unwrap().split(',').position(|h| h == name).expect(name);
    csv.lines().skip(1).map(|l| l.split(',').nth(at).unwrap().to_owned()).collect()
}

#[test]
fn serve_answers_as_the_pipelines_own_predict() {
    let (run, reference) = trained();
    let (mut child, address) = start(&run);
    let (status, health) = request(&address, "GET", "/health", "text/plain", "");
    assert_eq!((status, health), (200, json!({ "status": "ok" })));
    let (status, schema) = request(&address, "GET", "/schema", "text/plain", "");
    assert_eq!(status, 200);
    assert_eq!(schema["target"], "label");
    assert_eq!(schema["classes"], json!(["setosa", "versicolor", "virginica"]));
    let names: Vec<&str> = schema["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]);

    // JSON rows, with probabilities: the pipeline's classes and numbers.
    let (objects, csv) = rows();
    let body = Value::Array(objects.clone()).to_string();
    let (status, answer) = request(&address, "POST", "/predict?probabilities=true", "application/json", &body);
    assert_eq!(status, 200, "{answer}");
    let predictions: Vec<String> =
        answer["predictions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect();
    assert_eq!(predictions, column(&reference, "prediction"));
    for class in ["setosa", "versicolor", "virginica"] {
        let expected: Vec<f64> =
            column(&reference, &format!("probability_{class}")).iter().map(|p| p.parse().unwrap()).collect();
        let served: Vec<f64> =
            answer["probabilities"].as_array().unwrap().iter().map(|p| p[class].as_f64().unwrap()).collect();
        assert_eq!(served.len(), 150);
        for (s, e) in served.iter().zip(&expected) {
            assert!((s - e).abs() < 1e-6, "{class}: {s} vs {e}");
        }
    }
    let chosen: Vec<f64> = answer["probability"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
    for (s, e) in chosen.iter().zip(column(&reference, "probability")) {
        assert!((s - e.parse::<f64>().unwrap()).abs() < 1e-6, "{s} vs {e}");
    }
    // The same rows as CSV.
    let (status, from_csv) = request(&address, "POST", "/predict", "text/csv", &csv);
    assert_eq!(status, 200, "{from_csv}");
    assert_eq!(from_csv["predictions"], answer["predictions"]);
    assert!(from_csv.get("probabilities").is_none());

    // Concurrent requests (batched together by the model's thread): each
    // gets its own rows' predictions.
    let threads: Vec<_> = (0..24)
        .map(|i| {
            let (address, objects) = (address.clone(), objects.clone());
            std::thread::spawn(move || {
                let part: Vec<Value> = objects.iter().skip(i * 6).take(6).cloned().collect();
                let (status, answer) =
                    request(&address, "POST", "/predict", "application/json", &Value::Array(part).to_string());
                (i, status, answer["predictions"].clone())
            })
        })
        .collect();
    let expected = column(&reference, "prediction");
    for thread in threads {
        let (i, status, got) = thread.join().unwrap();
        assert_eq!(status, 200);
        let want: Vec<&str> = expected.iter().skip(i * 6).take(6).map(String::as_str).collect();
        assert_eq!(got, json!(want), "request {i}");
    }

    // Bad requests: 400 with pipe predict's coded diagnostic, never a crash.
    let narrow = json!([{ "sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4 }]).to_string();
    let (status, error) = request(&address, "POST", "/predict", "application/json", &narrow);
    assert_eq!(status, 400);
    assert_eq!(error["error"]["code"], "pipe::predict::input", "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("`petal_width_cm`"), "{error}");
    let (status, error) = request(&address, "POST", "/predict", "application/json", "[{\"sepal_length_cm\": ");
    assert_eq!(status, 400);
    assert_eq!(error["error"]["code"], "pipe::predict::input", "{error}");
    let wrong =
        json!([{ "sepal_length_cm": "long", "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2 }]);
    let (status, error) = request(&address, "POST", "/predict", "application/json", &wrong.to_string());
    assert_eq!(status, 400);
    assert!(error["error"]["code"].as_str().is_some_and(|c| c.starts_with("pipe::")), "{error}");
    assert!(!error.to_string().contains("pipe-serve-"), "the request's scratch file is not named: {error}");
    let (status, error) = request(&address, "POST", "/predict?probabilities=maybe", "application/json", &body);
    assert_eq!((status, &error["error"]["code"]), (400, &json!("pipe::serve::query")), "{error}");
    let (status, error) = request(&address, "GET", "/elsewhere", "text/plain", "");
    assert_eq!((status, &error["error"]["code"]), (404, &json!("pipe::serve::path")));
    assert_eq!(request(&address, "GET", "/predict", "text/plain", "").0, 405);
    // Still serving after all that.
    assert_eq!(request(&address, "GET", "/health", "text/plain", "").0, 200);

    // SIGTERM while a large request is on its way: it is answered, and the
    // server stops cleanly.
    let many: Vec<Value> = objects.iter().cycle().take(150 * 40).cloned().collect();
    let body = Value::Array(many).to_string();
    let stream = send(&address, "POST", "/predict", "application/json", &body);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let (status, answer) = answer_to(stream);
    assert_eq!(status, 200);
    assert_eq!(answer["predictions"].as_array().unwrap().len(), 6000);
    assert!(child.wait().unwrap().success());
}
