import pytest

from pipeline.config import CONFIG_DIR, ConfigError, VidseekConfig, load_config


def test_shipped_configs_load():
    for path in CONFIG_DIR.glob("*.yaml"):
        assert isinstance(load_config(path), VidseekConfig)


def test_default_is_local_yaml_with_real_model():
    cfg = load_config()
    assert cfg.describe.model == "Qwen/Qwen3-VL-8B-Thinking"
    assert cfg.decode.fps == 1.0 and cfg.decode.chunk_s == 60


def test_set_overrides_one_field_with_yaml_scalars():
    cfg = load_config(None, ["decode.fps=2", "ray.address=auto", "describe.greedy=true", "ray.address=null"])
    assert cfg.decode.fps == 2.0 and cfg.describe.greedy is True and cfg.ray.address is None


def test_config_name_resolves_in_configs_dir():
    assert load_config("tiny.yaml").describe.model == "tiny-random"


def test_unknown_key_names_key_and_allowed_keys():
    with pytest.raises(ConfigError) as exc:
        load_config(None, ["decode.fsp=2"])
    assert "decode.fsp" in str(exc.value) and "decode.fps" in str(exc.value) and "decode.chunk_s" in str(exc.value)


def test_unknown_section_lists_sections():
    with pytest.raises(ConfigError, match="allowed here: decode, describe, embed, frames, speech, index, ray"):
        load_config(None, ["decoder.fps=2"])


def test_invalid_choice_lists_allowed_values():
    with pytest.raises(ConfigError) as exc:
        load_config(None, ["decode.backend=ffmpeg"])
    message = str(exc.value)
    assert "decode.backend" in message and "'decord'" in message and "'opencv'" in message


def test_out_of_range_value_names_key():
    with pytest.raises(ConfigError, match=r"decode\.fps.*greater than 0"):
        load_config(None, ["decode.fps=0"])


def test_overlap_must_be_below_chunk():
    with pytest.raises(ConfigError, match="overlap_s"):
        load_config(None, ["decode.chunk_s=10", "decode.overlap_s=10"])


def test_missing_config_file_lists_shipped_ones():
    with pytest.raises(ConfigError, match="local.yaml"):
        load_config("nope.yaml")


def test_an_unknown_key_in_a_file_names_the_allowed_ones(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("foo:\n  x: 1\ndecode:\n  fsp: 1\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    sections = "decode, describe, embed, frames, speech, index, ray, live, answer"
    assert f"foo: unknown key; allowed here: {sections}" in str(raised.value)
    assert "decode.fsp: unknown key; allowed here: backend, fps," in str(raised.value)
