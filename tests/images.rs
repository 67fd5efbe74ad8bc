//! Image folders: PNG and JPEG decoding against references computed
//! another way (scikit-learn's digits table, PIL), channel conversion,
//! resizing, corrupt files.

use pipe::run::images::{decode, image_files, read_folder};
use pipe::source::Span;

use crate::run::repo;

fn close(got: f32, want: f32, tolerance: f32, what: &str) {
    assert!((got - want).abs() <= tolerance, "{what}: {got} != {want}");
}

/// The digits PNGs were written from scikit-learn's digits table (pixel
/// values 0..16 as round(v * 255 / 16)); decoded and scaled to [0, 1] they
/// are the table's values over 16.
#[test]
fn digit_pngs_decode_to_the_table_they_were_made_from() {
    let table = std::fs::read_to_string(repo().join("tests/data/images/digits.csv")).unwrap();
    let rows: Vec<Vec<f32>> =
        table.lines().skip(1).map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    let dir = repo().join("data/digits");
    let classes: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    let files = image_files(&dir, &classes).unwrap();
    assert_eq!(files.len(), 1797);
    let (frame, skipped) = read_folder(&dir, [8, 8], 1, &classes, false, Span::default()).unwrap();
    assert!(skipped.bad.is_empty());
    assert_eq!(frame.height(), 1797);
    let images = frame.column("image").unwrap().list().unwrap().clone();
    let labels = frame.column("label").unwrap().str().unwrap().clone();
    for (i, (class, path)) in files.iter().enumerate() {
        // `0123.png` is row 123 of the table.
        let row = &rows[path.file_stem().unwrap().to_str().unwrap().parse::<usize>().unwrap()];
        assert_eq!(row[64] as usize, *class, "{}", path.display());
        assert_eq!(labels.get(i), Some(classes[*class].as_str()));
        let pixels = images.get_as_series(i).unwrap();
        let pixels: Vec<f32> = pixels.f32().unwrap().into_no_null_iter().collect();
        assert_eq!(pixels.len(), 64);
        for (p, v) in pixels.iter().zip(&row[..64]) {
            close(*p, v / 16.0, 0.5 / 255.0 + 1e-6, &path.display().to_string());
        }
    }
}

/// A JPEG (quality 100, no chroma subsampling) decodes as PIL decodes it,
/// to within 2/255 (decoders may round their inverse DCTs differently).
#[test]
fn a_jpeg_decodes_as_pil_decodes_it() {
    let dir = repo().join("tests/data/images");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("colours.json")).unwrap()).unwrap();
    let image = decode(&std::fs::read(dir.join("colours.jpg")).unwrap()).unwrap();
    assert_eq!((image.channels, image.height, image.width), (3, 4, 6));
    let plane = 24;
    for y in 0..4 {
        for x in 0..6 {
            for c in 0..3 {
                let want = reference["rgb"][y][x][c].as_f64().unwrap() as f32 / 255.0;
                close(image.data[c * plane + y * 6 + x], want, 2.0 / 255.0, &format!("({x}, {y}) channel {c}"));
            }
        }
    }
}

#[test]
fn sixteen_bit_grey_and_alpha_pngs() {
    let dir = repo().join("tests/data/images");
    let grey = decode(&std::fs::read(dir.join("grey16.png")).unwrap()).unwrap();
    assert_eq!((grey.channels, grey.height, grey.width), (1, 2, 3));
    let want = [0.0, 1000.0, 65535.0, 30000.0, 12345.0, 500.0].map(|v: f32| v / 65535.0);
    assert_eq!(grey.data, want);
    // Alpha is dropped; colour stays.
    let rgba = decode(&std::fs::read(dir.join("rgba.png")).unwrap()).unwrap();
    assert_eq!(rgba.channels, 3);
    assert_eq!(rgba.data, vec![1.0, 0.0, 0.0, 128.0 / 255.0, 0.0, 1.0]);
}

#[test]
fn a_corrupt_file_is_an_error_naming_it_or_is_skipped_and_counted() {
    let dir = crate::run::scratch("broken_images");
    for class in ["a", "b"] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        std::fs::copy(repo().join("tests/data/images/rgba.png"), dir.join(class).join("ok.png")).unwrap();
    }
    std::fs::copy(repo().join("tests/data/images/broken.png"), dir.join("a/broken.png")).unwrap();
    std::fs::write(dir.join("b/notes.txt"), "not an image, not read").unwrap();
    let classes = vec!["a".to_string(), "b".to_string()];
    let error = read_folder(&dir, [4, 4], 3, &classes, false, Span::default()).unwrap_err();
    assert!(error.to_string().contains("broken.png"), "{error}");
    let (frame, skipped) = read_folder(&dir, [4, 4], 3, &classes, true, Span::default()).unwrap();
    assert_eq!(frame.height(), 2);
    assert_eq!(skipped.bad.len(), 1);
    assert!(skipped.bad[0].0.ends_with("a/broken.png"));
}

/// `pixels(...)` turns a table's columns into the same images as the PNG
/// folder made from that table, and a model trains on them.
#[test]
fn pixels_of_the_digits_table_are_the_digits_images() {
    let dir = crate::run::scratch("pixels");
    let table = repo().join("tests/data/images/digits.csv");
    let text = format!(
        "source table = csv(\"{}\")\n\
         stage digits = table |> pixels(p0..p63, shape: [1, 8, 8], max: 16)\n\
         output digits |> write(\"digits.parquet\")\n",
        table.display()
    );
    let program = crate::run::checked(&dir, &text);
    let (frame, _) = crate::run::with_session(&program, &dir, |s| s.frame("digits").unwrap());
    let names: Vec<String> = frame.get_column_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(names, ["image", "label"]);
    let images = frame.column("image").unwrap().list().unwrap().clone();
    let classes: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    for (class, path) in image_files(&repo().join("data/digits"), &classes).unwrap().iter().step_by(37) {
        let row: usize = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let from_table: Vec<f32> = images.get_as_series(row).unwrap().f32().unwrap().into_no_null_iter().collect();
        let from_png = decode(&std::fs::read(path).unwrap()).unwrap();
        for (t, p) in from_table.iter().zip(&from_png.data) {
            close(*t, *p, 0.5 / 255.0 + 1e-6, &format!("class {class}, {}", path.display()));
        }
    }
}

/// `pixels` does not overwrite a column the frame has.
#[test]
fn pixels_into_an_existing_column_is_an_error() {
    let dir = crate::run::scratch("pixels_taken");
    let text = format!(
        "source table = csv(\"{}\")\nstage digits = table |> rename(label: image) |> pixels(p0..p63, shape: [1, 8, 8])\n\
         output digits |> write(\"d.parquet\")\n",
        repo().join("tests/data/images/digits.csv").display()
    );
    std::fs::write(dir.join("main.pipe"), text).unwrap();
    let rendered = crate::ui::render_check(&dir.join("main.pipe"));
    assert!(rendered.contains("`pixels` makes a column `image`, which the frame already has"), "{rendered}");
}
