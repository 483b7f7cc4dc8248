"""`mtkd doctor`: ISA flags read from cpuinfo, providers counted only when a graph really ran on them."""

from __future__ import annotations

import onnxruntime as ort

from benchmarks import doctor

CPUINFO = "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx2 avx512f avx512_vnni amx_int8 amx_tile\n"


def test_isa_flags_of_interest_are_read_in_a_fixed_order():
    assert doctor.cpu_flags(CPUINFO) == ["avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8"]
    assert doctor.cpu_flags("processor\t: 0\n") == []


def test_a_provider_counts_only_when_a_graph_ran_on_it(tmp_path, monkeypatch):
    graph = doctor.tiny_graph(tmp_path)
    assert doctor.provider_runs("CPUExecutionProvider", graph) == "ok"
    assert doctor.provider_runs("TensorrtExecutionProvider", graph) == "not in this onnxruntime build"

    class FellBack:  # what a CUDA build does when libcudart is missing: it runs the CPU provider instead
        def __init__(self, path, providers):
            self.real = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

        def get_providers(self):
            return self.real.get_providers()

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    status = doctor.provider_runs("CUDAExecutionProvider", graph, FellBack)
    assert status == "compiled in but did not load (fell back to CPUExecutionProvider)"


def test_the_transformers_version_and_each_missing_extra_with_what_it_leaves_out(monkeypatch):
    monkeypatch.setattr("distill.versions.installed_versions", lambda names: {"transformers": "5.24.0"})
    facts = doctor.diagnose()
    assert facts["libraries"] == {"transformers": "5.24.0", "huggingface_hub": None, "optimum": None, "openvino": None}
    table = doctor.doctor_table(facts)
    assert "| transformers | 5.24.0 |" in table
    assert "| optimum | not installed: the optimum-* peer presets are listed as not measured" in table
    assert "pip install 'mtkd[openvino]'" in table
