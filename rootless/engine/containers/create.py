"""create: resolve the image, claim a name, prepare the rootfs, save the record."""

from __future__ import annotations

from rootless.engine import bundle
from rootless.engine.containers import ociruntime, rootfs
from rootless.engine.containers.context import Ctx
from rootless.engine.containers.record import Record
from rootless.engine.names import new_id
from rootless.engine.runspec import RunSpec


def create(ctx: Ctx, spec: RunSpec) -> Record:
    bundle.validate(spec)
    from rootless.engine.mounts import check_references

    check_references(ctx.paths, spec)  # --volumes-from names a container that exists
    runtime_path = ociruntime.select(spec.runtime)
    image = rootfs.find_image(ctx.paths, spec.image, spec.pull)
    command = bundle.process_args(spec, image.config)
    cid = new_id()
    name = ctx.store.claim_name(spec.name, cid)
    made_dir = False
    driver = ""
    try:
        d = ctx.store.new_dir(cid)
        made_dir = True
        driver = rootfs.create(ctx.paths, cid, image, spec.userns)
        rec = Record(
            id=cid,
            name=name,
            image=spec.image,
            image_id=image.id,
            spec=spec,
            runtime=runtime_path,
            storage_driver=driver,
            command=command,
            image_config=image.config,
        )
        ctx.store.save(rec)
    except BaseException:
        if driver:
            rootfs.remove(ctx.paths, cid, driver)
        if made_dir:
            import shutil  # the failure path only (bz2, lzma: ~1 ms)

            shutil.rmtree(d.path, ignore_errors=True)
        ctx.store.release_name(name, cid)
        raise
    return rec
