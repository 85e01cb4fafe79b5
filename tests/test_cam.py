"""CAM checks on evidence shaped as the probe writes it, from a real resnet34 on a drawn 160 px image
(a 5×5 feature map): the accepted ways to draw a CAM pass, fakes fail, and the rubric's thresholds
sit clear of the agreement measured by chance."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from grader.assets import draw_shapes
from grader.checks.blend import separate
from grader.checks.cam import agreement, check, find_overlays, grader_maps, heatmap_on_grid
from grader.checks.colormaps import matplotlib_jet, opencv_jet, viridis
from grader.checks.context import ItemContext, Trace
from grader.evidence.model import CamInputEvent, Evidence, ImshowEvent
from grader.rubric import load_rubric
from grader.rubric.models import CamCheck, Item, Tolerance

ROOT = Path(__file__).resolve().parent.parent
SIZE = 160
IMAGENET_MEAN, IMAGENET_STD = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])


def rubric_cam_checks() -> dict[str, CamCheck]:
    item = load_rubric(ROOT / "rubrics" / "dl2022-midterm").spec.item("1.4")
    return {check.require: check for check in item.checks}


def course_model(seed: int) -> torch.nn.Sequential:
    """A resnet34 body with the course's GAP + Flatten + Linear(512, 2, bias=False) head."""
    torch.manual_seed(seed)
    body = torch.nn.Sequential(*list(torchvision.models.resnet34().children())[:-2])
    head = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(512, 2, bias=False))
    return torch.nn.Sequential(body, head).eval()


def probe_arrays(model: torch.nn.Sequential, x: torch.Tensor) -> dict[str, np.ndarray]:
    """What the probe hands over for one input (grader.probe.vision.VisionRecorder.analyse)."""
    body, head = model
    features = body(x).detach().requires_grad_(True)
    logits = head(features)
    grads = [torch.autograd.grad(logits[0, c], features, retain_graph=True)[0][0] for c in range(2)]
    return {"input": x[0].numpy(), "features": features[0].detach().numpy(),
            "grads": torch.stack(grads).numpy(), "logits": logits[0].detach().numpy(),
            "last_linear": head[2].weight.detach().numpy()}


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes")
    draw_shapes(folder, per_class=1, size=SIZE, seed=3)
    picture = np.asarray(Image.open(folder / "circle" / "000.jpg").convert("RGB"))
    x = ((torch.tensor(picture / 255, dtype=torch.float32) - IMAGENET_MEAN) / IMAGENET_STD).permute(2, 0, 1)[None]
    model = course_model(seed=0)
    with torch.enable_grad():
        arrays = probe_arrays(model, x)
    cam = np.einsum("kc,chw->khw", arrays["last_linear"], arrays["features"])
    return {"picture": picture, "x": x, "arrays": arrays, "cam": cam, "model": model}


IMAGE_EXTENT = [-0.5, SIZE - 0.5, SIZE - 0.5, -0.5]


def evidence_of(scene: dict, heatmap: np.ndarray | None, alpha: float | None = 0.7,
                extent: list[float] | None = None, origin: str = "upper", with_image: bool = True) -> Evidence:
    evidence = Evidence()
    evidence.arrays = {"a1": scene["picture"]}
    seq = 1
    if with_image:
        evidence.imshows.append(ImshowEvent(seq=seq, run=1, event="imshow", axes="x1", array="a1",
                                            shape=list(scene["picture"].shape), subsampled=1, alpha=None,
                                            cmap="viridis", extent=IMAGE_EXTENT))
    if heatmap is not None:
        seq += 1
        evidence.arrays["a2"] = heatmap.astype(np.float32)
        evidence.imshows.append(ImshowEvent(
            seq=seq, run=1, event="imshow", axes="x1", array="a2", shape=list(heatmap.shape), subsampled=1,
            alpha=alpha, cmap="magma", origin=origin,
            extent=extent or [-0.5, heatmap.shape[1] - 0.5, heatmap.shape[0] - 0.5, -0.5]))
    names = {}
    for offset, (name, array) in enumerate(scene["arrays"].items()):
        names[name] = f"a{10 + offset}"
        evidence.arrays[names[name]] = array
    evidence.cam_inputs.append(CamInputEvent(seq=seq + 1, run=1, event="cam_input", model="m1", fed_in_run=1,
                                             arrays=names))
    return evidence


def run_check(spec: CamCheck, evidence: Evidence):
    trace = Trace(evidence=evidence, phases=[], run_cells={1: 0})
    item = Item(id="1.4", title="CAM", checks=[spec])
    ctx = ItemContext(item=item, tolerance=Tolerance(rtol=0, atol=0), reference=trace, student=trace, matched={},
                      item_cells=frozenset({0}))
    return check(spec, ctx)


def upsample(grid: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(grid.astype(np.float32), mode="F").resize((SIZE, SIZE), Image.BILINEAR))


def test_the_course_einsum_cam_drawn_over_the_image_agrees_exactly(scene):
    checks = rubric_cam_checks()
    evidence = evidence_of(scene, scene["cam"][1], extent=[0, SIZE - 1, SIZE - 1, 0])
    overlay = run_check(checks["overlay"], evidence)
    agreed = run_check(checks["agreement"], evidence)
    assert (overlay.passed, overlay.points) == (True, 5.0)
    assert (agreed.passed, agreed.points) == (True, 10.0)
    assert agreed.detail["rank_correlation"] == 1.0 and agreed.detail["top_overlap"] == 1.0
    assert (agreed.detail["method"], agreed.detail["class_index"], agreed.detail["image_match"]) == ("cam", 1, 1.0)


def test_an_upsampled_cam_and_a_grad_cam_at_image_resolution_agree(scene):
    spec = rubric_cam_checks()["agreement"]
    upsampled = run_check(spec, evidence_of(scene, upsample(scene["cam"][0]), alpha=0.5))
    # Averaged back onto the 5×5 grid, an upsampled map is compared with the grader's map upsampled alike.
    assert upsampled.passed and upsampled.detail["rank_correlation"] == 1.0
    _, _, grad_cam = next(m for m in grader_maps(evidence_of(scene, None), scene_input(scene))
                          if m[0] == "grad-cam" and m[1] == int(np.argmax(scene["arrays"]["logits"])))
    drawn = run_check(spec, evidence_of(scene, upsample(grad_cam), alpha=0.5))
    assert drawn.passed and drawn.detail["rank_correlation"] == 1.0
    by_torch = torch.nn.functional.interpolate(torch.tensor(grad_cam)[None, None], size=(SIZE, SIZE), mode="bilinear",
                                               align_corners=False)[0, 0].numpy()
    assert run_check(spec, evidence_of(scene, by_torch, alpha=0.5)).detail["rank_correlation"] >= 0.95


def scene_input(scene) -> CamInputEvent:
    return evidence_of(scene, None).cam_inputs[0]


def test_a_heatmap_drawn_with_origin_lower_is_read_the_right_way_up(scene):
    spec = rubric_cam_checks()["agreement"]
    # origin="lower" draws row 0 at the extent's bottom: here y = 159.5, the bottom of the image.
    flipped = scene["cam"][1][::-1]
    result = run_check(spec, evidence_of(scene, flipped, origin="lower", extent=[0, SIZE - 1, SIZE - 1, 0]))
    assert result.passed and result.detail["rank_correlation"] == 1.0
    upside_down = run_check(spec, evidence_of(scene, flipped, origin="upper", extent=[0, SIZE - 1, SIZE - 1, 0]))
    assert upside_down.passed is False


def test_random_heatmaps_fail_and_the_threshold_clears_chance_by_a_margin(scene):
    spec = rubric_cam_checks()["agreement"]
    rng = np.random.default_rng(0)
    evidence = evidence_of(scene, None)
    maps = grader_maps(evidence, evidence.cam_inputs[0])
    best = []
    for _ in range(500):
        noise = rng.random((5, 5))
        best.append(max(agreement(noise, grader_map, spec.top_fraction)[0] for _, _, grader_map in maps))
    chance_99 = float(np.quantile(best, 0.99))
    assert chance_99 + 0.1 <= spec.min_rank_correlation, f"99th percentile of chance agreement: {chance_99:.2f}"
    results = [run_check(spec, evidence_of(scene, rng.random((5, 5)))) for _ in range(20)]
    assert [r.passed for r in results] == [False] * 20


def test_a_constant_heatmap_fails(scene):
    result = run_check(rubric_cam_checks()["agreement"], evidence_of(scene, np.full((5, 5), 0.5)))
    assert (result.passed, result.points, result.detail["rank_correlation"]) == (False, 0.0, 0.0)
    assert "does not agree" in result.message


def test_the_cam_of_a_different_model_fails(scene):
    spec = rubric_cam_checks()["agreement"]
    rhos = []
    for seed in (1, 2, 3):
        with torch.enable_grad():
            other = probe_arrays(course_model(seed), scene["x"])
        other_cam = np.einsum("kc,chw->khw", other["last_linear"], other["features"])
        for k in range(2):
            result = run_check(spec, evidence_of(scene, other_cam[k]))
            assert result.passed is False
            rhos.append(result.detail["rank_correlation"])
    assert max(rhos) + 0.1 <= spec.min_rank_correlation, rhos


def test_an_image_with_no_overlay_fails_both_checks(scene):
    checks = rubric_cam_checks()
    alone = evidence_of(scene, None)
    assert [run_check(checks[r], alone).passed for r in ("overlay", "agreement")] == [False, False]
    assert "no heatmap was drawn over an image" in run_check(checks["overlay"], alone).message
    opaque = evidence_of(scene, scene["cam"][1], alpha=None)
    assert run_check(checks["overlay"], opaque).message == \
        "a heatmap was drawn without transparency (alpha) and hides the image under it"
    separate = evidence_of(scene, scene["cam"][1], with_image=False)
    assert find_overlays(separate, {1})[1] == ["a heatmap was shown with no image over or under it"]


def test_an_image_drawn_translucent_over_the_heatmap_is_an_overlay_too(scene):
    evidence = evidence_of(scene, scene["cam"][1], alpha=None, extent=[0, SIZE - 1, SIZE - 1, 0])
    image, heatmap = evidence.imshows
    evidence.imshows[:] = [heatmap.model_copy(update={"seq": 1}), image.model_copy(update={"seq": 2, "alpha": 0.5})]
    result = run_check(rubric_cam_checks()["agreement"], evidence)
    assert (result.passed, result.detail["rank_correlation"]) == (True, 1.0)


def test_an_overlay_over_another_image_than_the_one_fed_fails(scene):
    spec = rubric_cam_checks()["agreement"]
    evidence = evidence_of(scene, scene["cam"][1])
    evidence.arrays["a1"] = np.ascontiguousarray(scene["picture"][::-1, ::-1])
    result = run_check(spec, evidence)
    assert result.passed is False
    assert result.message == "the image under the heatmap is not an image that was fed to the trained model"


def test_heatmap_resampling_follows_extents():
    image = ImshowEvent(seq=1, run=1, event="imshow", axes="x", array="a1", shape=[100, 100, 3], subsampled=1,
                        alpha=None, cmap=None, extent=[-0.5, 99.5, 99.5, -0.5])
    heat = np.arange(4.0).reshape(2, 2)
    full = ImshowEvent(seq=2, run=1, event="imshow", axes="x", array="a2", shape=[2, 2], subsampled=1,
                       alpha=0.5, cmap=None, extent=[-0.5, 99.5, 99.5, -0.5])
    grid, coverage = heatmap_on_grid(heat, full, image, (2, 2))
    assert grid.tolist() == [[0.0, 1.0], [2.0, 3.0]] and coverage == 1.0
    # Drawn with its default extent, a 2×2 map covers two pixels in the image's corner.
    corner = full.model_copy(update={"extent": [-0.5, 1.5, 1.5, -0.5]})
    grid, coverage = heatmap_on_grid(heat, corner, image, (2, 2))
    assert coverage < 0.01 and np.isnan(grid[1, 1])


def test_the_share_of_the_cam_inside_the_drawn_objects_box(scene, tmp_path):
    from grader.assets.boxes import drawn_images
    from grader.checks.cam import object_box_mass

    folder = tmp_path / "submission"
    draw_shapes(folder / "images", per_class=1, size=SIZE, seed=3)  # the scene's image, with its box
    drawn = tuple(drawn_images(folder))
    assert [d.name for d in drawn] == ["images/circle/000.jpg", "images/square/000.jpg"]
    x0, y0, x1, y1 = drawn[0].box
    area = round((x1 - x0) * (y1 - y0) / SIZE**2, 3)
    uniform = object_box_mass(np.ones((5, 5)), scene["arrays"]["input"], drawn, 0.8)
    assert uniform == {"image": "images/circle/000.jpg", "cam_mass_inside": area, "box_area": area}
    on_object = np.zeros((5, 5))
    on_object[(y0 + y1) // 2 * 5 // SIZE, (x0 + x1) // 2 * 5 // SIZE] = 1.0
    inside = object_box_mass(on_object, scene["arrays"]["input"], drawn, 0.8)
    assert inside["cam_mass_inside"] > area
    # A map negative everywhere (an untrained model's can be) is read as shown: from its minimum up.
    assert object_box_mass(on_object - 5.0, scene["arrays"]["input"], drawn, 0.8) == inside
    other_image = np.ascontiguousarray(scene["arrays"]["input"][:, ::-1, ::-1])
    assert object_box_mass(np.ones((5, 5)), other_image, drawn, 0.8) is None


def test_boxes_json_cannot_point_outside_the_submission(tmp_path):
    from grader.assets.boxes import drawn_images

    outside = tmp_path / "outside.jpg"
    Image.new("RGB", (64, 64)).save(outside)
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "link.jpg").symlink_to(outside)
    (folder / "boxes.json").write_text('{"../outside.jpg": [0, 0, 8, 8], "link.jpg": [0, 0, 8, 8], '
                                       '"missing.jpg": [0, 0, 8, 8], "x": "not a box"}')
    assert drawn_images(folder) == []


# -- heatmaps blended into the image and shown as one picture ------------------------------------------------------

OPENCV_JET_LUT = np.round(opencv_jet() * 255).astype(np.uint8)


def show_cam_on_image(img: np.ndarray, mask: np.ndarray, use_rgb: bool = False,
                      image_weight: float = 0.5) -> np.ndarray:
    """pytorch-grad-cam's, line for line, with the table below for cv2.applyColorMap(…, COLORMAP_JET) (BGR)."""
    heatmap = OPENCV_JET_LUT[np.uint8(255 * mask)][..., ::-1]
    if use_rgb:
        heatmap = heatmap[..., ::-1]  # cv2.cvtColor(heatmap, cv2.COLOR_BGR2RGB)
    heatmap = np.float32(heatmap) / 255
    cam = (1 - image_weight) * heatmap + image_weight * img
    cam = cam / np.max(cam)
    return np.uint8(255 * cam)


def unit(heatmap: np.ndarray) -> np.ndarray:
    """A map scaled to 0 … 1, as students do before colouring it."""
    return (heatmap - heatmap.min()) / (heatmap.max() - heatmap.min())


def shown_alone(scene: dict, picture: np.ndarray) -> Evidence:
    """The picture shown with one imshow (no alpha), and the image the scene fed the model."""
    return evidence_of({**scene, "picture": picture}, None)


def test_the_opencv_and_matplotlib_tables_are_theirs():
    # cv2.applyColorMap(np.arange(256, dtype=np.uint8), cv2.COLORMAP_JET) in RGB order, OpenCV 4.10 and 5.1.
    cv2_rows = {0: [0, 0, 128], 31: [0, 0, 252], 32: [0, 0, 255], 95: [0, 252, 255], 96: [2, 255, 254],
                160: [255, 252, 0], 223: [255, 0, 0], 224: [252, 0, 0], 255: [128, 0, 0]}
    assert {k: OPENCV_JET_LUT[k].tolist() for k in cv2_rows} == cv2_rows
    assert OPENCV_JET_LUT[159].tolist() == [254, 255, 2]  # cv2 has 1 for blue: the one level off
    levels = np.arange(256)
    assert np.abs(matplotlib_jet() - matplotlib.colormaps["jet"](levels)[:, :3]).max() < 1e-15  # float rounding
    assert np.abs(viridis() - matplotlib.colormaps["viridis"](levels)[:, :3]).max() <= 0.5 / 255


def test_a_show_cam_on_image_blend_of_the_models_cam_agrees(scene):
    checks = rubric_cam_checks()
    evidence = shown_alone(scene, show_cam_on_image(scene["picture"] / 255, unit(upsample(scene["cam"][1])),
                                                    use_rgb=True))
    overlay = run_check(checks["overlay"], evidence)
    assert (overlay.passed, overlay.detail) == (True, {"overlays": 1,
                                                       "form": "blended overlay, image weight 0.50, OpenCV's jet"})
    agreed = run_check(checks["agreement"], evidence)
    assert agreed.passed and agreed.message == (
        "agrees with the model's class activation map for class 1 (read as a blended overlay, image weight 0.50, "
        "OpenCV's jet): rank correlation 1.00, top-20% overlap 100%")
    assert agreed.detail["rank_correlation"] == 1.0 >= checks["agreement"].min_rank_correlation
    assert agreed.detail["blend"] == {"image_weight": 0.499, "colour_map": "OpenCV's jet", "residual": 0.0012,
                                      "image": "the input denormalised with ImageNet statistics"}
    assert "heatmap" not in agreed.detail["arrays"]  # the report shows the picture as the student did
    from grader.figures import cam_figures

    assert [f.title for f in cam_figures([agreed], evidence)] == [
        "CAM: the student's overlay and the grader's map of the same model and image"]


def test_a_hand_blend_in_matplotlibs_jet_agrees(scene):
    cam = matplotlib.colormaps["jet"](unit(upsample(scene["cam"][1])))[..., :3]
    result = run_check(rubric_cam_checks()["agreement"], shown_alone(scene, 0.6 * scene["picture"] / 255 + 0.4 * cam))
    assert (result.passed, result.detail["rank_correlation"], result.detail["top_overlap"]) == (True, 1.0, 1.0)
    assert result.detail["form"] == "blended overlay, image weight 0.60, jet"
    assert result.detail["blend"]["residual"] == 0.0


def test_a_blend_at_the_pictures_own_larger_size_agrees(scene):
    """The picture shown at twice the model's input size: compared at the input's size, where its detail is lost."""
    big = np.asarray(Image.fromarray(scene["picture"]).resize((2 * SIZE, 2 * SIZE), Image.BICUBIC))
    mask = Image.fromarray(scene["cam"][1].astype(np.float32), mode="F").resize((2 * SIZE, 2 * SIZE), Image.BILINEAR)
    result = run_check(rubric_cam_checks()["agreement"],
                       shown_alone(scene, show_cam_on_image(big / 255, unit(np.asarray(mask)), use_rgb=True)))
    assert (result.passed, result.detail["rank_correlation"], result.detail["top_overlap"]) == (True, 0.999, 0.8)
    assert result.detail["blend"]["residual"] == 0.0082


@pytest.mark.parametrize(("blend", "weight", "colour_map"), [
    ("opencv", 0.3, "OpenCV's jet"), ("opencv", 0.5, "OpenCV's jet"), ("opencv", 0.7, "OpenCV's jet"),
    ("matplotlib", 0.4, "jet"), ("matplotlib", 0.6, "jet"), ("viridis", 0.5, "viridis"),
])
def test_the_blend_weight_is_read_within_0_05(scene, blend, weight, colour_map):
    img, mask = scene["picture"] / 255, unit(upsample(scene["cam"][0]))
    if blend == "opencv":
        picture = show_cam_on_image(img, mask, use_rgb=True, image_weight=weight)
    else:
        colours = matplotlib.colormaps["jet" if blend == "matplotlib" else "viridis"](mask)[..., :3]
        picture = weight * img + (1 - weight) * colours
    separation = separate(picture, scene["arrays"]["input"])
    assert separation is not None and separation.colour_map == colour_map
    assert abs(separation.image_weight - weight) <= 0.005  # the brief asks 0.05; it reads ten times closer


def test_a_blend_of_a_random_heatmap_fails(scene):
    spec = rubric_cam_checks()["agreement"]
    rng = np.random.default_rng(0)
    results = [run_check(spec, shown_alone(scene, show_cam_on_image(scene["picture"] / 255,
                                                                    unit(upsample(rng.random((5, 5)))), use_rgb=True)))
               for _ in range(20)]
    assert [r.passed for r in results] == [False] * 20
    assert max(r.detail["rank_correlation"] for r in results) == 0.55
    assert results[0].message.startswith("the heatmap (read as a blended overlay, image weight 0.50, OpenCV's jet) "
                                         "does not agree with the model's class activation map")


def test_opencvs_bgr_colours_blended_into_rgb_read_upside_down_with_a_hint(scene):
    picture = show_cam_on_image(scene["picture"] / 255, unit(upsample(scene["cam"][1])))  # use_rgb left False
    result = run_check(rubric_cam_checks()["agreement"], shown_alone(scene, picture))
    assert result.passed is False
    assert result.message.endswith("; read the other way up (red for low values) it would agree: OpenCV's colours "
                                   "are in BGR order, and show_cam_on_image needs use_rgb=True to blend them into an "
                                   "RGB image")


def test_the_image_alone_or_another_picture_is_not_read_as_a_blend(scene):
    checks = rubric_cam_checks()
    picture, fed = scene["picture"], scene["arrays"]["input"]
    other = np.ascontiguousarray(picture[::-1, ::-1])
    jet_cam = matplotlib.colormaps["jet"](unit(upsample(scene["cam"][1])))[..., :3]
    holes = 0.5 * picture / 255 + 0.5 * jet_cam
    holes[::7, ::7] = np.nan
    magma_cam = matplotlib.colormaps["magma"](unit(upsample(scene["cam"][1])))[..., :3]
    not_blends = {
        "the image": picture, "the image as floats": (picture / 255).astype(np.float32),
        "the image at twice the size": np.asarray(Image.fromarray(picture).resize((2 * SIZE, 2 * SIZE))),
        "another picture": other, "noise": np.random.default_rng(0).random((SIZE, SIZE, 3)),
        "the heatmap blended into another picture": show_cam_on_image(other / 255, unit(upsample(scene["cam"][1]))),
        "the heatmap alone": jet_cam,
        "a colour map not read (magma)": 0.5 * picture / 255 + 0.5 * magma_cam, "a blend with NaN holes": holes,
    }
    assert {name: separate(shown, fed) for name, shown in not_blends.items()} == dict.fromkeys(not_blends)
    alone = run_check(checks["overlay"], shown_alone(scene, picture))
    assert (alone.passed, alone.message) == (False, "no heatmap was drawn over an image (imshow with alpha) in these "
                                                    "cells, nor blended into the image fed to the model and shown")
