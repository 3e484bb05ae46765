"""segment_image: distinct colours, labels, ordering, k handling, and a real micrograph."""

import warnings

import numba
import numpy as np
import pytest
from naive import mixture as naive

from gmmbg.segmentation import LUMA, Segmentation, distinct_colours, segment_image

REGION_COLOURS = np.array([[200, 40, 40], [30, 30, 160], [230, 230, 90]])


def three_regions(noise=6.0, seed=0):
    """A 60x90 RGB image: three vertical bands of flat colour plus noise, and their labels."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(3), 30)[None].repeat(60, axis=0)
    image = REGION_COLOURS[truth] + rng.normal(0, noise, truth.shape + (3,))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), truth


def luminance_rank(colours):
    """Rank of each colour by luminance: the label segment_image gives its component."""
    return np.argsort(np.argsort(colours @ LUMA))


@pytest.mark.parametrize("shape", [(40, 50, 3), (40, 50)])
def test_distinct_colours_match_numpy(shape):
    image = (np.random.default_rng(1).integers(0, 8, shape) * 32).astype(np.uint8)
    colours, counts, inverse = distinct_colours(image if image.ndim == 3 else image[:, :, None])
    expected = naive.unique_colours(image.reshape(-1, 1 if image.ndim == 2 else 3))
    np.testing.assert_array_equal(colours, expected[0])
    np.testing.assert_array_equal(counts, expected[1])
    np.testing.assert_array_equal(inverse, expected[2])


@pytest.mark.parametrize("method", ["gmm", "kmeans"])
def test_recovers_regions_ordered_by_luminance(method):
    image, truth = three_regions()
    result = segment_image(image, 3, method=method, random_state=0)
    assert isinstance(result, Segmentation)
    assert result.labels.shape == image.shape[:2] and result.labels.dtype == np.int32
    np.testing.assert_array_equal(result.labels, luminance_rank(REGION_COLOURS)[truth])
    order = np.argsort(REGION_COLOURS @ LUMA)
    np.testing.assert_allclose(result.palette, REGION_COLOURS[order], atol=3)
    np.testing.assert_allclose(result.means, REGION_COLOURS[order], atol=3)
    assert result.palette.dtype == np.uint8 and result.palette.shape == (3, 3)
    np.testing.assert_allclose(result.weights, 1 / 3, atol=0.01)
    painted = result.painted()
    assert painted.shape == image.shape and painted.dtype == np.uint8
    np.testing.assert_array_equal(painted, result.palette[result.labels])
    assert result.n_components == 3 and result.method == method and result.converged


def test_gmm_figures_are_those_of_every_pixel():
    from gmmbg.mixture import GaussianMixture

    image, _ = three_regions()
    result = segment_image(image, 3, random_state=0)
    pixels = image.reshape(-1, 3).astype(np.float64)
    colours, counts, _ = distinct_colours(image)
    model = GaussianMixture(3, init_params="kmeans", random_state=0).fit(colours, counts)
    assert result.mean_log_likelihood == pytest.approx(model.score(pixels), rel=1e-12)
    assert result.bic == pytest.approx(model.bic(pixels), rel=1e-12)
    assert result.n_iter == model.n_iter_ and result.bic_by_k is None


def test_kmeans_has_no_likelihood():
    image, _ = three_regions()
    result = segment_image(image, 3, method="kmeans", random_state=0)
    assert result.mean_log_likelihood is None and result.bic is None


def test_gray_image():
    image = np.repeat(np.array([20, 120, 240], np.uint8), 400).reshape(30, 40)
    image = np.clip(image + np.random.default_rng(2).normal(0, 3, image.shape), 0, 255).astype(
        np.uint8
    )
    result = segment_image(image, 3, random_state=0)
    assert result.palette.shape == (3, 1)
    np.testing.assert_allclose(result.palette[:, 0], [20, 120, 240], atol=2)
    assert result.painted().shape == image.shape


def test_same_seed_same_labels_whatever_the_thread_count():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    image, _ = three_regions(noise=25.0)  # ~15 000 distinct colours: several chunks
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 2):
            numba.set_num_threads(threads)
            results.append(segment_image(image, 4, random_state=7))
    finally:
        numba.set_num_threads(before)
    for other in results[1:]:
        np.testing.assert_array_equal(other.labels, results[0].labels)
        np.testing.assert_array_equal(other.means, results[0].means)
        assert other.mean_log_likelihood == results[0].mean_log_likelihood


def test_auto_picks_k_by_lowest_bic():
    image, _ = three_regions()
    result = segment_image(image, "auto", random_state=0, max_auto_k=6)
    assert sorted(result.bic_by_k) == [1, 2, 3, 4, 5, 6]
    assert result.n_components == min(result.bic_by_k, key=result.bic_by_k.get)
    assert result.bic == result.bic_by_k[result.n_components]
    assert result.bic_by_k[3] < result.bic_by_k[2] < result.bic_by_k[1]


def test_auto_stops_at_the_number_of_distinct_colours():
    image = np.array([[0, 0, 255, 255]] * 4, np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = segment_image(image, "auto", max_auto_k=10)
    assert sorted(result.bic_by_k) == [1, 2]


def test_too_many_components_warn_and_are_reduced():
    image = np.array([[0, 0, 255], [255, 90, 90]], np.uint8)
    with pytest.warns(UserWarning, match="only 3 distinct colour.*using n_components=3"):
        result = segment_image(image, 5, random_state=0)
    assert result.n_components == 3
    assert sorted(np.unique(result.labels)) == [0, 1, 2]
    np.testing.assert_array_equal(result.palette[:, 0], [0, 90, 255])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_components": 0}, "n_components must be an integer >= 1"),
        ({"n_components": "many"}, "n_components must be an integer >= 1 or 'auto'"),
        ({"n_components": "auto", "method": "kmeans"}, "needs method='gmm'"),
        ({"method": "dbscan"}, "method must be one of gmm, kmeans"),
        ({"covariance_type": "round"}, "covariance_type must be one of"),
        ({"n_components": "auto", "max_auto_k": 0}, "max_auto_k must be an integer >= 1"),
    ],
)
def test_bad_arguments_say_what_to_do(kwargs, message):
    image, _ = three_regions()
    with pytest.raises(ValueError, match=message):
        segment_image(image, **{"n_components": 3, **kwargs})


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((4, 4, 3), np.float32), "must be uint8"),
        (np.zeros((4, 4, 4), np.uint8), r"\(H, W\) gray or \(H, W, 3\) RGB"),
        (np.zeros((0, 4, 3), np.uint8), "no pixels"),
    ],
)
def test_bad_images_are_refused(image, message):
    with pytest.raises(ValueError, match=message):
        segment_image(image, 2)


@pytest.mark.media
@pytest.mark.parametrize("k", [2, 5])
def test_plant_cells(shared_media, k):
    imageio = pytest.importorskip("imageio.v3")
    image = imageio.imread(shared_media / "seed-images" / "plant_cells_2.jpeg")
    assert image.shape == (1015, 1480, 3)
    result = segment_image(image, k, random_state=0)
    assert result.n_components == k and result.converged
    counts = np.bincount(result.labels.ravel(), minlength=k)
    assert (counts > 0.005 * image.shape[0] * image.shape[1]).all()  # every label really used
    luminance = result.palette @ LUMA
    assert (np.diff(luminance) > 0).all()  # distinct colours, darkest first
    low, high = image.reshape(-1, 3).min(axis=0), image.reshape(-1, 3).max(axis=0)
    assert ((result.palette >= low) & (result.palette <= high)).all()
    # the bright background is the most common component and gets the brightest colours
    assert counts.argmax() >= k - 2 and luminance[-1] > 180
    assert np.isfinite(result.mean_log_likelihood) and -12 < result.mean_log_likelihood < -8
    np.testing.assert_allclose(result.weights.sum(), 1.0)
