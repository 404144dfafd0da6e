"""Lookup order of pipeline files at a commit, and a configured path."""

from runner.pipeline.lookup import select_pipeline_files


def test_order():
    assert select_pipeline_files([".drone.yml", ".pipeline.yml"]) == [".pipeline.yml"]
    assert select_pipeline_files([".woodpecker.yml", ".drone.yaml"]) == [".drone.yaml"]
    assert select_pipeline_files(["README.md"]) == []


def test_woodpecker_folder_gives_every_yaml_sorted_and_wins_over_the_single_file():
    paths = [
        ".woodpecker/test.yml",
        ".woodpecker/build.yaml",
        ".woodpecker/notes.md",
        ".woodpecker/sub/x.yml",
        ".woodpecker.yml",
    ]
    assert select_pipeline_files(paths) == [".woodpecker/build.yaml", ".woodpecker/test.yml"]


def test_configured_path_file_folder_or_glob():
    paths = [".drone.yml", "ci/a.yml", "ci/b.yaml", ".drone/drone.yml"]
    assert select_pipeline_files(paths, ".drone/drone.yml") == [".drone/drone.yml"]
    assert select_pipeline_files(paths, "ci") == ["ci/a.yml", "ci/b.yaml"]
    assert select_pipeline_files(paths, "ci/*.yml") == ["ci/a.yml"]
    assert select_pipeline_files(paths, "missing.yml") == []


def test_paths_with_leading_dot_slash():
    assert select_pipeline_files(["./.drone.yml", "./README.md"]) == [".drone.yml"]
    assert select_pipeline_files(["./.woodpecker/a.yml"]) == [".woodpecker/a.yml"]
    assert select_pipeline_files([".drone/x.yml"], "./.drone/x.yml") == [".drone/x.yml"]
