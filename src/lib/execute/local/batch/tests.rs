use super::basename;
use super::collect::wanted;
use crate::plan::OutputPlan;
use crate::plan::outputs::{EntryKind, Source};

fn output(class: &'static str, glob: &str) -> OutputPlan {
    OutputPlan {
        name: "o".into(),
        class,
        optional: false,
        glob: glob.into(),
        destination: crate::plan::Destination::Discarded,
    }
}

#[test]
fn plan_outputs_become_glob_rules() {
    assert_eq!(
        wanted(&output("File", "*.txt")).source,
        Source::Glob("*.txt".into())
    );
    assert_eq!(
        wanted(&output("stdout", "<stdout>")).source,
        Source::Captured("stdout")
    );
    assert_eq!(
        wanted(&output("stderr", "logs/err.txt")).source,
        Source::Named("logs/err.txt".into())
    );
    assert_eq!(wanted(&output("Directory", "d")).kind, EntryKind::Directory);
}

#[test]
fn basenames_of_container_paths() {
    assert_eq!(basename("/cc/inputs/x/data.csv"), "data.csv");
    assert_eq!(basename("plain"), "plain");
}
