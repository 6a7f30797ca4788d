"""`brainfm cbf` recovers a known CBF (GM 60, WM 20 mL/100 g/min, noise off) from hand-made ASL-BIDS datasets:
each labelling type, each M0 type, inherited sidecars, background suppression, multi-delay and 2D slice timing."""

import json

import numpy as np
import pytest

TOLERANCE = 0.02  # the acceptance bound: GM CBF within 2 %


def gm_cbf(asl, out, name="sub-01_desc-mean_cbf.nii.gz"):
    return asl.read_map(out / name)[asl.tissue().gm].mean()


def test_pcasl_separate_m0_with_short_tr(asl, tmp_path):
    root = asl.write(tmp_path / "ds", asl.separate_pcasl_files())
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 0, stderr
    cbf = asl.read_map(tmp_path / "out" / "sub-01_desc-mean_cbf.nii.gz")
    t = asl.tissue()
    assert cbf[t.gm].mean() == pytest.approx(asl.CBF_GM, rel=TOLERANCE)
    assert cbf[t.wm].mean() == pytest.approx(asl.CBF_WM, rel=TOLERANCE)
    sidecar = json.loads((tmp_path / "out" / "sub-01_desc-mean_cbf.json").read_text())
    assert sidecar["Units"] == "mL/100 g/min"
    assert sidecar["M0Files"] == ["bids::sub-01/perf/sub-01_m0scan.nii.gz"]
    assert sidecar["M0SaturationRecoveryFactors"][0] == pytest.approx(1 / (1 - np.exp(-4.0 / 1.607)))


def test_pcasl_included_m0_with_per_volume_arrays(asl, tmp_path):
    # Two M0 volumes first (TR 3 s, PLD 0 as BIDS writes it), then two pairs (TR 4 s, PLD 1.8 s).
    t = asl.tissue()
    dm = asl.pcasl_dm(t.cbf, t.m0, pld=1.8, tau=1.8, alpha=asl.ALPHA["PCASL"])
    m0 = asl.acquired_m0(t.m0, 3.0)
    control = asl.acquired_m0(t.m0, 4.0)
    volumes = np.stack([m0, m0, control, control - dm, control, control - dm], axis=3)
    sidecar = asl.pcasl_sidecar(M0Type="Included", PostLabelingDelay=[0, 0, 1.8, 1.8, 1.8, 1.8],
                                LabelingDuration=[0, 0, 1.8, 1.8, 1.8, 1.8],
                                RepetitionTimePreparation=[3.0, 3.0, 4.0, 4.0, 4.0, 4.0])
    root = asl.write(tmp_path / "ds", {
        "sub-01/perf/sub-01_asl.nii.gz": volumes, "sub-01/perf/sub-01_asl.json": sidecar,
        "sub-01/perf/sub-01_aslcontext.tsv": ["m0scan", "m0scan", "control", "label", "control", "label"]})
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 0, stderr
    assert gm_cbf(asl, tmp_path / "out") == pytest.approx(asl.CBF_GM, rel=TOLERANCE)


def test_pcasl_estimate_m0_with_deltam_volumes(asl, tmp_path):
    t = asl.tissue()
    m0_estimate = 750.0  # one whole-brain value: the data are made with it, as a scanner's would be
    dm = asl.pcasl_dm(t.cbf, m0_estimate, pld=1.8, tau=1.8, alpha=asl.ALPHA["PCASL"])
    root = asl.write(tmp_path / "ds", {
        "sub-01/perf/sub-01_asl.nii.gz": np.stack([dm, dm], axis=3),
        "sub-01/perf/sub-01_asl.json": asl.pcasl_sidecar(M0Type="Estimate", M0Estimate=m0_estimate),
        "sub-01/perf/sub-01_aslcontext.tsv": ["deltam", "deltam"]})
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 0, stderr
    assert gm_cbf(asl, tmp_path / "out") == pytest.approx(asl.CBF_GM, rel=TOLERANCE)


def test_absent_m0_uses_the_stored_cbf_volume(asl, tmp_path):
    t = asl.tissue()
    root = asl.write(tmp_path / "ds", {
        "sub-01/perf/sub-01_asl.nii.gz": t.cbf,  # one 3D volume, as GE product sequences store it
        "sub-01/perf/sub-01_asl.json": asl.pcasl_sidecar(M0Type="Absent", Units="mL/100g/min"),
        "sub-01/perf/sub-01_aslcontext.tsv": ["cbf"]})
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 0, stderr
    assert gm_cbf(asl, tmp_path / "out") == pytest.approx(asl.CBF_GM, rel=TOLERANCE)


def test_casl_included_m0(asl, tmp_path):
    t = asl.tissue()
    dm = asl.pcasl_dm(t.cbf, t.m0, pld=1.5, tau=2.0, alpha=asl.ALPHA["CASL"])
    m0 = asl.acquired_m0(t.m0, 4.0)
    root = asl.write(tmp_path / "ds", {
        "sub-01/perf/sub-01_asl.nii.gz": np.stack([m0, m0, m0 - dm], axis=3),
        "sub-01/perf/sub-01_asl.json": asl.pcasl_sidecar(ArterialSpinLabelingType="CASL", M0Type="Included",
                                                         PostLabelingDelay=1.5, LabelingDuration=2.0),
        "sub-01/perf/sub-01_aslcontext.tsv": ["m0scan", "control", "label"]})
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 0, stderr
    assert gm_cbf(asl, tmp_path / "out") == pytest.approx(asl.CBF_GM, rel=TOLERANCE)


def test_pasl_quipss2_separate_m0_with_subject_relative_intended_for(asl, tmp_path):
    t = asl.tissue()
    dm = asl.pasl_dm(t.cbf, t.m0, ti=1.8, ti1=0.8, alpha=asl.ALPHA["PASL"])
    control = asl.acquired_m0(t.m0, 2.5)
    sidecar = asl.pcasl_sidecar(ArterialSpinLabelingType="PASL", LabelingDuration=None, BolusCutOffFlag=True,
                                BolusCutOffTechnique="QUIPSSII", BolusCutOffDelayTime=0.8, PostLabelingDelay=1.8)
    root = asl.write(tmp_path / "ds", {
        "sub-01/perf/sub-01_asl.nii.gz": np.stack([control - dm, control], axis=3),  # label first this time
        "sub-01/perf/sub-01_asl.json": sidecar,
        "sub-01/perf/sub-01_aslcontext.tsv": ["label", "control"],
        "sub-01/perf/sub-01_m0scan.nii.gz": control,
        "sub-01/perf/sub-01_m0scan.json": {"IntendedFor": ["perf/sub-01_asl.nii.gz"],
                                           "RepetitionTimePreparation": 2.5}})
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 0, stderr
    assert gm_cbf(asl, tmp_path / "out") == pytest.approx(asl.CBF_GM, rel=TOLERANCE)


def test_background_suppression_scales_the_labelling_efficiency_per_pulse(asl, tmp_path):
    t = asl.tissue()
    alpha = asl.ALPHA["PCASL"] * 0.95**4  # four inversion pulses, 0.95 each
    dm = asl.pcasl_dm(t.cbf, t.m0, pld=1.8, tau=1.8, alpha=alpha)
    control = 0.1 * t.m0  # background-suppressed: the static tissue is mostly gone, the difference is not
    noise_reference = np.zeros(asl.SHAPE)
    files = asl.separate_pcasl_files(sidecar={"BackgroundSuppression": True, "BackgroundSuppressionNumberPulses": 4})
    files["sub-01/perf/sub-01_asl.nii.gz"] = np.stack([control, control - dm, noise_reference], axis=3)
    files["sub-01/perf/sub-01_aslcontext.tsv"] = ["control", "label", "noRF"]
    root = asl.write(tmp_path / "ds", files)
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 0, stderr
    assert gm_cbf(asl, tmp_path / "out") == pytest.approx(asl.CBF_GM, rel=TOLERANCE)
    sidecar = json.loads((tmp_path / "out" / "sub-01_desc-mean_cbf.json").read_text())
    assert sidecar["LabelingEfficiency"] == pytest.approx(alpha)
    assert sidecar["VolumesNotUsed"] == {"noRF": 1}


def test_sidecars_inherit_from_root_and_session_levels(asl, tmp_path):
    # Root asl.json holds every field with a wrong PLD (1.0 s); the session-level file overrides it with 1.8 s; the
    # series' own sidecar holds only M0Type. A root sidecar for another acquisition (acq-other) must not apply.
    t = asl.tissue()
    dm = asl.pcasl_dm(t.cbf, t.m0, pld=1.8, tau=1.8, alpha=asl.ALPHA["PCASL"])
    control = asl.acquired_m0(t.m0, 4.0)
    root = asl.write(tmp_path / "ds", {
        "asl.json": asl.pcasl_sidecar(PostLabelingDelay=1.0, M0Type=None),
        "acq-other_asl.json": {"LabelingDuration": 0.5},
        "sub-01/ses-1/sub-01_ses-1_asl.json": {"PostLabelingDelay": 1.8},
        "sub-01/sub-01_aslcontext.tsv": ["control", "label"],  # inherited TSV (lowest applicable one)
        "sub-01/ses-1/perf/sub-01_ses-1_asl.nii.gz": np.stack([control, control - dm], axis=3),
        "sub-01/ses-1/perf/sub-01_ses-1_asl.json": {"M0Type": "Separate"},
        "sub-01/ses-1/perf/sub-01_ses-1_m0scan.nii.gz": control,
        "sub-01/ses-1/perf/sub-01_ses-1_m0scan.json": {
            "IntendedFor": "bids::sub-01/ses-1/perf/sub-01_ses-1_asl.nii.gz", "RepetitionTimePreparation": 4.0}})
    code, stderr = asl.run_cbf(root, tmp_path / "out", "--session", "1")
    assert code == 0, stderr
    assert gm_cbf(asl, tmp_path / "out", "sub-01_ses-1_desc-mean_cbf.nii.gz") == pytest.approx(asl.CBF_GM,
                                                                                                rel=TOLERANCE)
    sidecar = json.loads((tmp_path / "out" / "sub-01_ses-1_desc-mean_cbf.json").read_text())
    assert sidecar["SidecarFiles"] == ["bids::asl.json", "bids::sub-01/ses-1/sub-01_ses-1_asl.json",
                                       "bids::sub-01/ses-1/perf/sub-01_ses-1_asl.json"]
    assert sidecar["PostLabelingDelay"] == [1.8]


def test_multi_delay_pcasl_fits_cbf_and_transit_time(asl, tmp_path):
    t = asl.tissue()
    att = np.where(t.gm, 1.2, 1.6)
    plds = [0.5, 1.0, 1.5, 2.0, 2.5]
    control = asl.acquired_m0(t.m0, 4.0)
    volumes, context, pld_per_volume = [], [], []
    for pld in plds:
        dm = asl.buxton_pcasl_dm(t.cbf, t.m0, att=att, pld=pld, tau=1.8, alpha=asl.ALPHA["PCASL"])
        volumes += [control, control - dm]
        context += ["control", "label"]
        pld_per_volume += [pld, pld]
    files = asl.separate_pcasl_files(sidecar={"PostLabelingDelay": pld_per_volume})
    files["sub-01/perf/sub-01_asl.nii.gz"] = np.stack(volumes, axis=3)
    files["sub-01/perf/sub-01_aslcontext.tsv"] = context
    root = asl.write(tmp_path / "ds", files)
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 0, stderr
    assert gm_cbf(asl, tmp_path / "out") == pytest.approx(asl.CBF_GM, rel=TOLERANCE)
    fitted_att = asl.read_map(tmp_path / "out" / "sub-01_att.nii.gz")
    assert fitted_att[t.gm].mean() == pytest.approx(1.2, abs=0.02)
    assert fitted_att[t.wm].mean() == pytest.approx(1.6, abs=0.02)


def test_multi_delay_pasl(asl, tmp_path):
    t = asl.tissue()
    tis = [1.0, 1.4, 1.8, 2.2]
    control = asl.acquired_m0(t.m0, 4.0)
    volumes = []
    for ti in tis:
        dm = asl.buxton_pasl_dm(t.cbf, t.m0, att=0.7, ti=ti, ti1=0.8, alpha=asl.ALPHA["PASL"])
        volumes += [control, control - dm]
    sidecar = {"ArterialSpinLabelingType": "PASL", "LabelingDuration": None, "BolusCutOffFlag": True,
               "BolusCutOffTechnique": "QUIPSSII", "BolusCutOffDelayTime": 0.8,
               "PostLabelingDelay": [ti for ti in tis for _ in range(2)]}
    files = asl.separate_pcasl_files(sidecar=sidecar)
    files["sub-01/perf/sub-01_asl.nii.gz"] = np.stack(volumes, axis=3)
    files["sub-01/perf/sub-01_aslcontext.tsv"] = ["control", "label"] * len(tis)
    root = asl.write(tmp_path / "ds", files)
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 0, stderr
    assert gm_cbf(asl, tmp_path / "out") == pytest.approx(asl.CBF_GM, rel=TOLERANCE)


def test_2d_readout_adds_slice_timing_to_the_pld(asl, tmp_path):
    # Slices along z are read 0, 60, 120, 180 ms after the first: each slice has its own PLD (a 10 % effect here).
    t = asl.tissue()
    slice_times = [0.0, 0.06, 0.12, 0.18]
    pld = 1.8 + np.array(slice_times)[None, None, :]
    dm = asl.pcasl_dm(t.cbf, t.m0, pld=pld, tau=1.8, alpha=asl.ALPHA["PCASL"])
    control = asl.acquired_m0(t.m0, 4.0)
    files = asl.separate_pcasl_files(sidecar={"MRAcquisitionType": "2D", "SliceTiming": slice_times})
    files["sub-01/perf/sub-01_asl.nii.gz"] = np.stack([control, control - dm], axis=3)
    files["sub-01/perf/sub-01_aslcontext.tsv"] = ["control", "label"]
    root = asl.write(tmp_path / "ds", files)
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 0, stderr
    cbf = asl.read_map(tmp_path / "out" / "sub-01_desc-mean_cbf.nii.gz")
    for z in range(asl.SHAPE[2]):
        assert cbf[..., z][t.gm[..., z]].mean() == pytest.approx(asl.CBF_GM, rel=TOLERANCE)


def test_every_session_is_written_when_no_session_is_given(asl, tmp_path):
    files = {}
    for session in ("1", "2"):
        for name, content in asl.separate_pcasl_files().items():
            renamed = name.replace("sub-01/perf/sub-01_", f"sub-01/ses-{session}/perf/sub-01_ses-{session}_")
            if isinstance(content, dict) and "IntendedFor" in content:
                content = {**content, "IntendedFor": f"bids::sub-01/ses-{session}/perf/sub-01_ses-{session}_asl.nii.gz"}
            files[renamed] = content
    root = asl.write(tmp_path / "ds", files)
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 0, stderr
    for session in ("1", "2"):
        name = f"sub-01_ses-{session}_desc-mean_cbf.nii.gz"
        assert gm_cbf(asl, tmp_path / "out", name) == pytest.approx(asl.CBF_GM, rel=TOLERANCE)


def test_python_api_gives_the_same_map(asl, tmp_path):
    from brainfm_lite.asl_bids import quantify_participant

    root = asl.write(tmp_path / "ds", asl.separate_pcasl_files())
    (result,) = quantify_participant(root, "sub-01")
    code, _ = asl.run_cbf(root, tmp_path / "out")
    assert code == 0
    written = asl.read_map(tmp_path / "out" / "sub-01_desc-mean_cbf.nii.gz")
    np.testing.assert_allclose(written, result.cbf, rtol=1e-5)
    assert result.att is None


def test_background_with_a_faint_m0_is_set_to_zero(asl, tmp_path):
    # The last row along y is outside the head: M0 and control hold noise of a few units, as a scanner's would.
    files = asl.separate_pcasl_files()
    series, m0 = files["sub-01/perf/sub-01_asl.nii.gz"].copy(), files["sub-01/perf/sub-01_m0scan.nii.gz"].copy()
    series[:, -1] = np.array([3.0, 2.0, 3.0, 2.0])  # control - label = 1, divided by M0 = 3 would be huge CBF
    m0[:, -1] = 3.0
    files["sub-01/perf/sub-01_asl.nii.gz"], files["sub-01/perf/sub-01_m0scan.nii.gz"] = series, m0
    root = asl.write(tmp_path / "ds", files)
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 0, stderr
    cbf = asl.read_map(tmp_path / "out" / "sub-01_desc-mean_cbf.nii.gz")
    assert np.all(cbf[:, -1] == 0)
    assert cbf[:, :-1][asl.tissue().gm[:, :-1]].mean() == pytest.approx(asl.CBF_GM, rel=TOLERANCE)


def test_zero_repetition_time_preparation_falls_back_to_repetition_time(asl, tmp_path):
    # As OpenNeuro ds000240 stores it: M0 volumes first, label before control, LabelingEfficiency given,
    # RepetitionTimePreparation 0 and the real TR in RepetitionTime.
    t = asl.tissue()
    dm = asl.pcasl_dm(t.cbf, t.m0, pld=1.5, tau=1.6, alpha=0.72)
    m0 = asl.acquired_m0(t.m0, 3.5)
    volumes = np.stack([m0, m0, m0 - dm, m0, m0 - dm, m0], axis=3)
    sidecar = asl.pcasl_sidecar(M0Type="Included", PostLabelingDelay=1.5, LabelingDuration=1.6,
                                LabelingEfficiency=0.72, RepetitionTimePreparation=0, RepetitionTime=3.5)
    root = asl.write(tmp_path / "ds", {
        "sub-01/perf/sub-01_asl.nii.gz": volumes, "sub-01/perf/sub-01_asl.json": sidecar,
        "sub-01/perf/sub-01_aslcontext.tsv": ["m0scan", "m0scan", "label", "control", "label", "control"]})
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 0, stderr
    assert gm_cbf(asl, tmp_path / "out") == pytest.approx(asl.CBF_GM, rel=TOLERANCE)
    sidecar = json.loads((tmp_path / "out" / "sub-01_desc-mean_cbf.json").read_text())
    assert sidecar["M0RepetitionTime"] == [3.5, 3.5]
    assert sidecar["M0RepetitionTimeSource"].startswith("RepetitionTime of sub-01_asl.json")
