"""`gmmbg segment IMAGE`: label each pixel with its colour component (GMM or k-means)."""

from __future__ import annotations

import click

from gmmbg.cli.options import (
    Components,
    Timer,
    default_output,
    emit_json,
    force_option,
    format_option,
    json_option,
    log,
    log_outputs,
    refuse_two_stdouts,
)

COVARIANCE_TYPES = ["full", "diag", "spherical", "tied"]


@click.command()
@click.argument("image")
@click.option(
    "-k",
    "--components",
    "k",
    type=Components(allow_auto=True, maximum=255),
    default="3",
    show_default=True,
    help="Number of colour regions, 1-255, or 'auto' to choose 1-10 by lowest BIC (gmm only).",
)
@click.option(
    "-o",
    "--output",
    default=None,
    metavar="OUT",
    help="Image with each pixel painted its region's mean colour, or '-' for stdout "
    "(default: <image stem>-segmented.png).",
)
@click.option(
    "--labels",
    default=None,
    metavar="LABELS.png",
    help="Also write the region index (0..k-1) of each pixel as an 8-bit image (default: "
    "not written).",
)
@click.option(
    "--method",
    type=click.Choice(["gmm", "kmeans"]),
    default="gmm",
    show_default=True,
    help="Gaussian mixture (EM) or the k-means baseline.",
)
@click.option(
    "--covariance",
    type=click.Choice(COVARIANCE_TYPES),
    default="full",
    show_default=True,
    help="Covariance type of each component (gmm only).",
)
@click.option(
    "--max-iter",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Most EM (gmm) or Lloyd (kmeans) iterations per start.",
)
@click.option(
    "--tol",
    type=click.FloatRange(min=0),
    default=1e-3,
    show_default=True,
    help="Convergence tolerance. gmm: stop when the mean log-likelihood per pixel gains "
    "less than this, in nats; kmeans: when the centres' total squared shift falls below "
    "this times the mean colour variance (scikit-learn's KMeans rule).",
)
@click.option(
    "--n-init",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Number of starts from different initialisations; the best is kept.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Random seed for the initialisation (same seed, same result).",
)
@format_option("png")
@json_option("a summary on stderr")
@force_option
@click.pass_context
def segment(ctx, image, k, output, labels, method, covariance, max_iter, tol, n_init, seed,
            media_format, as_json, force):  # fmt: skip
    """Segment IMAGE into k colour regions with a Gaussian mixture over its colours.

    EM runs over the image's distinct colours weighted by their counts, which gives the same
    fit as EM over every pixel, much faster. IMAGE may be '-' to read stdin.
    """
    from gmmbg import media
    from gmmbg.segmentation import segment_image

    output = output or default_output(image, "-segmented.png")
    refuse_two_stdouts(output, as_json)
    for path in filter(None, [output, labels]):
        media.check_output(path, force)
    with media.open_source(image, media_format) as source:
        pixels = media.read_image(source)
    with Timer() as timer:
        result = segment_image(
            pixels, k, method=method, covariance_type=covariance, max_iter=max_iter, tol=tol,
            n_init=n_init, random_state=seed,
        )  # fmt: skip
    media.write_image(output, result.painted(), force=force, format=media_format or "png")
    written = [output]
    if labels:
        media.write_image(labels, result.labels.astype("uint8"), force=force,
                          format=media_format or "png")  # fmt: skip
        written.append(labels)
    report = {
        "command": "segment",
        "input": image,
        "method": method,
        "covariance": covariance if method == "gmm" else None,
        "k": result.n_components,
        "mean_log_likelihood": result.mean_log_likelihood,
        "bic": result.bic,
        "bic_by_k": result.bic_by_k,
        "iterations": result.n_iter,
        "converged": result.converged,
        "weights": result.weights,
        "means": result.means,
        "seconds": round(timer.seconds, 4),
        "height": pixels.shape[0],
        "width": pixels.shape[1],
        "outputs": [p for p in written if p != "-"],
    }
    if as_json:
        emit_json(report)
    else:
        figures = f"k={result.n_components}, {result.n_iter} iterations"
        if result.mean_log_likelihood is not None:
            figures += f", mean log-likelihood {result.mean_log_likelihood:.4f}/pixel"
        log(ctx, f"segmented {image} ({figures}, {timer.seconds:.2f} s)")
        log_outputs(ctx, report["outputs"])
