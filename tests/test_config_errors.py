"""Bad study configs fail when the study is read, before any job starts, naming the file and the
fix (each case was seen to fail late, or without a cause, before)."""
import pytest

from osrstudy.study import StudyConfigError, expand_study, load_study

GOOD = """\
name: cfg
training: {epochs: 2, batch_size: 16, lr: 0.05}
blocks:
  t:
    datasets: [digits]
    backbones: [small_cnn]
    embed_dims: [8]
    losses: [sce]
"""


def write(tmp_path, text):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


def test_exponent_without_a_dot_is_a_number(tmp_path):
    """YAML 1.1 reads 1e-3 as a string; the schema then said 'not a number'."""
    study = load_study(write(tmp_path, GOOD.replace("lr: 0.05", "lr: 1e-3")))
    assert study["training"]["lr"] == 0.001
    assert expand_study(study)[0]["train"]["lr"] == 0.001


def test_a_key_given_twice_is_refused_with_its_lines(tmp_path):
    text = GOOD.replace("training: {epochs: 2, batch_size: 16, lr: 0.05}\n",
                        "training: {epochs: 2, batch_size: 16, lr: 0.05}\ntraining: {epochs: 9}\n")
    with pytest.raises(StudyConfigError, match=r"(?s)study.yaml' is not valid YAML.*found the key 'training' twice "
                                               r"\(first on line 2\).*line 3"):
        load_study(write(tmp_path, text))


def test_a_yaml_syntax_error_names_the_study_file(tmp_path):
    with pytest.raises(StudyConfigError, match=r"(?s)study.yaml' is not valid YAML.*line 3"):
        load_study(write(tmp_path, GOOD.replace("blocks:\n", "blocks: [\n")))


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), "is a directory, not a file"),
    (lambda p: p.write_text(""), "is empty; it needs at least `name:` and `blocks:`"),
    (lambda p: p.write_text("- a\n- b\n"), "is a list, not a mapping"),
])
def test_a_study_path_that_is_no_study_says_so(tmp_path, make, message):
    path = tmp_path / "study.yaml"
    make(path)
    with pytest.raises(StudyConfigError, match=message):
        load_study(path)


def test_a_loss_option_of_the_wrong_type_fails_before_any_job(tmp_path):
    """Before: scale_T: "big" passed the config check and failed inside the job."""
    typo = GOOD.replace("losses: [sce]", "losses: [{name: movr, options: {scale_T: big}}]")
    study = load_study(write(tmp_path, typo))
    with pytest.raises(StudyConfigError, match=r"option 'scale_T' of loss 'movr'.* is 'big' \(str\); it takes a "
                                               r"number, like its default 32.0"):
        expand_study(study)
    study["blocks"]["t"]["losses"] = [{"name": "movr", "options": {"normalize": "yes"}}]
    with pytest.raises(StudyConfigError, match="it takes a boolean"):
        expand_study(study)
    study["blocks"]["t"]["losses"] = [{"name": "movr", "options": {"scale_T": 16}}]  # an int is a number
    assert expand_study(study)[0]["train"]["loss_options"]["scale_T"] == 16


def test_a_one_dimensional_embedding_is_refused(tmp_path):
    """Before: embed_dims: [1] trained, then crashed Fig. 3 inside seaborn."""
    with pytest.raises(StudyConfigError, match=r"blocks/t/embed_dims/0: 1 is less than the minimum of 2"):
        load_study(write(tmp_path, GOOD.replace("embed_dims: [8]", "embed_dims: [1]")))
