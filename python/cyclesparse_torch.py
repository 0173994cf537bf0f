"""cyclesparse's PyTorch engine: a Python process driven by the TypeScript side (src/engine/torch/).

It needs only an importable `torch` (no numpy), and Pillow for folder data sets, whose image
files it decodes itself in DataLoader processes (CYCLESPARSE_LOADER_WORKERS of them, default
min(8, cores); 0 decodes in this process). That Pillow must be upstream Pillow decoding JPEG with
libjpeg-turbo (pip's wheels, Debian's python3-pil): pillow-simd resamples differently and IJG
libjpeg upsamples chroma differently, so the TF.js engines would see other pixels; a folder data
set is refused on any other build. Loaders hand batches over through shared memory (/dev/shm):
in a container, give it room (docker --shm-size, or --ipc=host) or set
CYCLESPARSE_LOADER_WORKERS=0. Every decision about a run -- initial weights,
masks, data order, augmentation choices, learning rates, momentum resets -- arrives as data; this
process computes forward and backward passes, the masked SGD update and BatchNorm statistics on
its device, and returns losses, weights and gradients.

Protocol (stdin -> requests, stdout -> replies, little-endian): a frame is a u32 length, a JSON
header of that many bytes, then the raw bytes of each tensor the header lists under "tensors" as
[name, dtype, shape], in order. Replies carry the request's "id"; long requests send
{"id", "progress"} frames first (the TypeScript side treats silence as a hang). Anything else
written to file descriptor 1 (a stray print) is redirected to stderr.

Layouts: tensors cross the protocol in the TypeScript layouts (conv kernels [kh, kw, in, out],
dense weights [in, out] with inputs in HWC order, images NHWC); inside, this process keeps
PyTorch's (OIHW, [out, in] with inputs in CHW order, NCHW), converting at the boundary.
"""

import ctypes
import faulthandler
import json
import os
import platform
import re
import signal
import struct
import sys
import threading
import time
import traceback
import warnings

PROTOCOL = 1
PROGRESS_SECONDS = 2.0

# The protocol owns file descriptor 1; prints go to stderr.
_out = os.fdopen(os.dup(1), "wb", buffering=0)
os.dup2(2, 1)
sys.stdout = sys.stderr
_in = sys.stdin.buffer


class InputError(Exception):
    """The request is wrong (bad device, sizes): running it again fails the same way."""


def read_exact(n):
    chunks, left = [], n
    while left > 0:
        chunk = _in.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


DTYPES = {}  # filled once torch is imported
SIZES = {"float32": 4, "float64": 8, "uint8": 1, "int16": 2, "int32": 4}


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def read_into(tensor):
    """Fills a contiguous CPU tensor with its bytes from stdin. Tensors own their memory (torch's
    allocator aligns it for its vector kernels): a tensor viewing a Python bytearray crashed
    oneDNN convolutions here."""
    size = tensor.numel() * tensor.element_size()
    view = memoryview((ctypes.c_char * size).from_address(tensor.data_ptr())).cast("B")
    done = 0
    while done < size:
        n = _in.readinto(view[done:])
        if not n:
            raise EOFError("stdin closed inside a frame")
        done += n


def read_frame():
    head = read_exact(4)
    if head is None:
        return None, {}
    (length,) = struct.unpack("<I", head)
    header = json.loads(read_exact(length).decode("utf-8"))
    tensors = {}
    for name, dtype, shape in header.get("tensors", []):
        t = torch.empty(shape, dtype=DTYPES[dtype])
        if t.numel() > 0:
            read_into(t)
        tensors[name] = t
    return header, tensors


def _bytes_of(t):
    """A CPU uint8 tensor's bytes (no numpy)."""
    return ctypes.string_at(t.data_ptr(), t.numel()) if t.numel() > 0 else b""


_write_lock = threading.Lock()


def _write_all(data):
    """Writes every byte of `data` to the protocol pipe: a write interrupted by a signal (the
    DataLoader's SIGCHLD handler) after some bytes returns a short count, and a lost tail would
    desynchronise every frame after it."""
    view = memoryview(data).cast("B")
    while len(view) > 0:
        n = _out.write(view)
        view = view[n or 0:]


def write_frame(header, tensors=()):
    """`tensors`: (name, cpu tensor) pairs; sent as float32/float64/int32/uint8 as they are."""
    listed, blobs = [], []
    for name, t in tensors:
        t = t.detach().to("cpu").contiguous()
        dtype = {torch.float32: "float32", torch.float64: "float64", torch.int32: "int32", torch.uint8: "uint8"}[t.dtype]
        listed.append([name, dtype, list(t.shape)])
        blobs.append(ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()) if t.numel() > 0 else b"")
    header = dict(header, tensors=listed)
    body = json.dumps(header).encode("utf-8")
    with _write_lock:
        _write_all(struct.pack("<I", len(body)) + body)
        for blob in blobs:
            _write_all(blob)


class Progress:
    """Tells the TypeScript side the worker is alive during a long request (at most every 2 s)."""

    def __init__(self, request_id):
        self.id = request_id
        self.last = time.monotonic()

    def tick(self, done):
        now = time.monotonic()
        if now - self.last >= PROGRESS_SECONDS:
            self.last = now
            write_frame({"id": self.id, "progress": done})


# --------------------------------------------------------------------------------------------
# Layouts


def dense(t):
    """`t` with row-major strides (a copy only when it has others). `contiguous()` is not enough:
    a permuted tensor with a size-1 dimension counts as contiguous with other strides (a
    one-channel NHWC batch permuted to NCHW has exactly channels_last strides), and PyTorch 1.13's
    oneDNN convolution backward wrote past its buffers on such an input here (1×1, stride 2)."""
    expected, step = [], 1
    for size in reversed(t.shape):
        expected.append(step)
        step *= size
    if list(t.stride()) == expected[::-1]:
        return t
    return t.clone(memory_format=torch.contiguous_format)


def to_torch(layout, t):
    """A tensor in the TypeScript layout -> PyTorch's."""
    kind = layout[0]
    if kind == "hwio":
        return dense(t.permute(3, 2, 0, 1))
    if kind == "io":
        return dense(t.t())
    if kind == "io-hwc":  # dense after a flatten of an [h, w, c] map: rows from HWC to CHW order
        h, w, c = layout[1:]
        out = t.shape[1]
        return dense(t.reshape(h, w, c, out).permute(3, 2, 0, 1).reshape(out, c * h * w))
    return t.contiguous()


def to_ts(layout, t):
    """A tensor in PyTorch's layout -> the TypeScript one."""
    kind = layout[0]
    if kind == "hwio":
        return dense(t.permute(2, 3, 1, 0))
    if kind == "io":
        return dense(t.t())
    if kind == "io-hwc":
        h, w, c = layout[1:]
        out = t.shape[0]
        return dense(t.reshape(out, c, h, w).permute(2, 3, 1, 0).reshape(h * w * c, out))
    return t.contiguous()


# --------------------------------------------------------------------------------------------
# Data: a data set on the device, normalised by the TypeScript side's lookup tables


class Data:
    """A data set on the device, kept channels-first (NCHW) so that a batch is one gather."""

    stride = 3  # [dy, dx, flip] per image

    NORMALISE_ONCE_BYTES = 2 << 30

    def __init__(self, images, labels, tables, shape, device):
        n = labels.shape[0]
        h, w, c = shape
        self.device = device
        self.shape = (h, w, c)
        self.count = n
        self.images = dense(images.reshape(n, h, w, c).permute(0, 3, 1, 2)).to(device)
        self.labels = labels.to(device=device, dtype=torch.long)
        self.table = tables.reshape(-1).to(device)  # [c * 256]: channel k's value v at k*256 + v
        self.channel_offsets = (torch.arange(c, device=device, dtype=torch.long) * 256).reshape(1, c, 1, 1)
        self.normalised = None

    def _lookup(self, pixels):
        return self.table[pixels.long() + self.channel_offsets]

    def _all_normalised(self):
        if self.normalised is None:
            h, w, c = self.shape
            if self.count * h * w * c * 4 > self.NORMALISE_ONCE_BYTES:
                return None
            out = torch.empty(self.count, c, h, w, device=self.device)
            for start in range(0, self.count, 4096):
                out[start:start + 4096] = self._lookup(self.images[start:start + 4096])
            self.normalised = out
        return self.normalised

    def batch(self, idx, aug):
        """Images at `idx` (NCHW, normalised) and labels; `aug`: [dy, dx, flip] per image or None.
        Output pixel (y, x) reads source pixel (y + dy, (flip ? w - 1 - x : x) + dx), 0 outside the
        image, exactly as the TypeScript Batcher does."""
        h, w, c = self.shape
        if aug is None:
            cache = self._all_normalised()
            x = cache[idx] if cache is not None else self._lookup(self.images[idx])
        else:
            aug = aug.reshape(-1, 3).long()
            dy, dx, flip = aug[:, 0], aug[:, 1], aug[:, 2].bool()
            rows = torch.arange(h, device=self.device)
            cols = torch.arange(w, device=self.device)
            ys = rows[None, :] + dy[:, None]
            xs = torch.where(flip[:, None], (w - 1 - cols)[None, :], cols[None, :]) + dx[:, None]
            inside = ((ys >= 0) & (ys < h))[:, None, :, None] & ((xs >= 0) & (xs < w))[:, None, None, :]
            channels = torch.arange(c, device=self.device)[None, :, None, None]
            pixels = self.images[idx[:, None, None, None], channels,
                                 ys.clamp(0, h - 1)[:, None, :, None], xs.clamp(0, w - 1)[:, None, None, :]]
            pixels = torch.where(inside, pixels, torch.zeros((), dtype=pixels.dtype, device=self.device))
            x = self._lookup(pixels)
        return dense(x), self.labels[idx]

    def batches(self, idx, bounds, aug):
        """`batch` of idx[a:b] (augmentation rows aug[3a:3b]) for each (a, b) in `bounds`, in order."""
        for a, b in bounds:
            yield self.batch(idx[a:b], None if aug is None else aug[3 * a:3 * b])


class DataFileError(Exception):
    """An image file of a folder data set that cannot be read, decoded, or is not the size the
    index recorded: the message names the file and where in the request it was needed."""

    def __init__(self, path, step, message):
        super().__init__("%s (step %d): %s" % (path, step, message))
        self.path = path
        self.step = step
        self.message = message


class MissingPillowError(Exception):
    """Pillow, which decodes the image files, cannot be imported."""


class PillowBuildError(Exception):
    """The Pillow that decodes the files is not one whose pixels the TF.js engines reproduce."""

    def __init__(self, version, jpeg, reason):
        super().__init__(reason)
        self.version = version
        self.jpeg = jpeg


class SharedMemoryError(Exception):
    """The loader processes could not hand a batch over through shared memory (/dev/shm)."""

    def __init__(self, step, message):
        super().__init__(message)
        self.step = step


def _pillow():
    try:
        from PIL import Image
    except Exception as error:
        raise MissingPillowError("%s: %s" % (type(error).__name__, error))
    # Below its error threshold Pillow warns about every large image, in every loader; the index
    # refuses images above that threshold (src/data/folder.ts), so the warning says nothing here.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    return Image


def _pillow_build():
    """(Pillow's version, its JPEG library as words): what decodes and resamples the files."""
    import PIL
    from PIL import features

    version = str(getattr(PIL, "__version__", "unknown"))
    try:
        turbo = features.check_feature("libjpeg_turbo")
    except Exception:  # a Pillow too old to know the feature
        turbo = False
    if turbo:
        return version, "libjpeg-turbo %s" % (getattr(features, "version_feature", lambda _: None)("libjpeg_turbo")
                                               or "(version unknown)")
    try:
        jpeg = features.version("jpg")  # None without a JPEG codec
    except Exception:
        jpeg = None
    return version, "no JPEG decoder" if jpeg is None else "libjpeg %s, not libjpeg-turbo" % jpeg


def _check_pillow_build():
    """Refuses a Pillow whose pixels differ from upstream Pillow with libjpeg-turbo (what the TF.js
    engines reproduce, measured with Pillow 9.4): pillow-simd (versions 'x.y.z.postN') has other
    resampling coefficients and rounding; IJG libjpeg upsamples chroma differently."""
    version, jpeg = _pillow_build()
    if ".post" in version:
        raise PillowBuildError(version, jpeg, "a '.postN' version is pillow-simd, whose resampling differs from Pillow's")
    if not jpeg.startswith("libjpeg-turbo"):
        raise PillowBuildError(version, jpeg, "its JPEG decoder is not libjpeg-turbo, whose decoding the TF.js engines share")


def _decode(Image, path, expected, aug, shape, resize):
    """One image file as uint8 HWC bytes, transformed as torchvision's RandomResizedCrop (the box
    and flip drawn on the TypeScript side) or Resize(resize) + CenterCrop; the same operations, in
    the same order, as the TypeScript file batcher (src/data/), so both engines see the same pixels."""
    h, w, _ = shape
    with Image.open(path) as opened:
        if opened.size != expected:  # the header's size, before decoding anything
            raise ValueError("decoded size %dx%d, but the data set's index recorded %dx%d (the file changed "
                             "after indexing: index the folder again)" % (opened.size + expected))
        img = opened.convert("RGB")  # no EXIF rotation: as Image.open(path).convert('RGB')
    if aug is not None:
        top, left, height, width, flip = aug
        img = img.crop((left, top, left + width, top + height)).resize((w, h), Image.BILINEAR)
        if flip:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
    else:
        width, height = img.size
        short, long = (width, height) if width <= height else (height, width)
        if short != resize:
            new_long = int(resize * long / short)
            size = (resize, new_long) if width <= height else (new_long, resize)
            img = img.resize(size, Image.BILINEAR)
        width, height = img.size
        top = int(round((height - h) / 2.0))
        left = int(round((width - w) / 2.0))
        img = img.crop((left, top, left + w, top + h))
    if img.size != (w, h):
        raise ValueError("transformed to %dx%d, expected %dx%d" % (img.size + (w, h)))
    return img.tobytes()


class _FileIndex:
    """Where each image is and how it is transformed, in a form loader processes can share: the
    paths as one bytes object with start/end offsets and the sizes as a tensor. (A list of 1.28 M
    Python strings would be copied into every forked loader page by page as their reference
    counts are touched; with the spawn start method, as on macOS, this is what gets pickled.)"""

    def __init__(self, root, names, sizes, shape, resize):
        import torch as t  # a spawned loader process imports this module without running main()

        self.root = root
        self.names = names
        breaks = (t.frombuffer(bytearray(names), dtype=t.uint8) == 10).nonzero().flatten() if names else t.empty(0)
        self.starts = t.cat([t.zeros(1, dtype=t.long), breaks.long() + 1])
        self.ends = t.cat([breaks.long(), t.full((1,), len(names), dtype=t.long)])
        self.count = self.starts.numel() if names else 0
        self.sizes = sizes
        self.shape = tuple(shape)
        self.resize = resize

    def path(self, i):
        return os.path.join(self.root, self.names[int(self.starts[i]):int(self.ends[i])].decode("utf-8"))

    def size(self, i):
        return int(self.sizes[2 * i]), int(self.sizes[2 * i + 1])


class _Steps:
    """The steps of one request as a map-style data set: item k is step k's images, decoded (in a
    loader process when there are any). Decoding failures come back as data, not exceptions, so
    that the main process raises one clean error naming the file instead of DataLoader's
    re-raised traceback from a worker."""

    def __init__(self, index, bounds, positions, aug, stride):
        self.index = index
        self.bounds = bounds
        self.positions = positions  # CPU tensor: plan position -> image index
        self.aug = aug  # CPU tensor of stride values per plan position, or None
        self.stride = stride

    def __len__(self):
        return len(self.bounds)

    def __getitem__(self, k):
        import torch as t

        f = self.index
        Image = _pillow()
        a, b = self.bounds[k]
        h, w, c = f.shape
        rows = None if self.aug is None else self.aug[self.stride * a:self.stride * b].tolist()
        parts = []
        for n, i in enumerate(self.positions[a:b].tolist()):
            path = f.path(i)
            aug = None if rows is None else rows[self.stride * n:self.stride * (n + 1)]
            try:
                pixels = _decode(Image, path, f.size(i), aug, f.shape, f.resize)
            except Exception as error:
                return None, ("file", path, k, "%s: %s" % (type(error).__name__, error))
            parts.append(pixels)
        # One buffer per batch: no torch kernels (and their thread pools) in a forked loader.
        out = t.frombuffer(bytearray(b"".join(parts)), dtype=t.uint8).view(b - a, h, w, c)
        if t.utils.data.get_worker_info() is not None:
            # Moved to shared memory here rather than in the result queue's feeder thread, where a
            # full /dev/shm is only printed and the main process would wait for the batch forever.
            try:
                out.share_memory_()
            except RuntimeError as error:
                return None, ("shared-memory", k, str(error))
        return out, None


def _as_is(item):
    return item


class FileData:
    """A folder data set: image files decoded per batch in DataLoader processes, in exactly the
    order and grouping of the request, then normalised on the device by the TypeScript side's
    lookup tables (the same values as `Data`'s)."""

    stride = 5  # [top, left, height, width, flip] per image

    def __init__(self, root, names, sizes, labels, tables, shape, resize, device):
        _pillow()  # fail at data.put, before any step, when Pillow is missing
        _check_pillow_build()  # or is a build whose pixels the TF.js engines do not reproduce
        self.index = _FileIndex(root, names, sizes, shape, resize)
        self.count = labels.shape[0]
        if self.index.count != self.count or sizes.numel() != 2 * self.count:
            raise InputError("files: expected %d paths and %d sizes (one per label), got %d and %d"
                             % (self.count, 2 * self.count, self.index.count, sizes.numel()))
        self.shape = tuple(shape)
        self.device = device
        self.labels = labels.to(device=device, dtype=torch.long)
        h, w, c = self.shape
        self.table = tables.reshape(-1).to(device)
        self.channel_offsets = (torch.arange(c, device=device, dtype=torch.long) * 256).reshape(1, c, 1, 1)
        env = os.environ.get("CYCLESPARSE_LOADER_WORKERS", "")
        if env != "" and not env.isdigit():
            raise InputError("CYCLESPARSE_LOADER_WORKERS: expected a whole number of processes (0: decode in "
                             "the PyTorch process), got %r" % env)
        self.workers = int(env) if env != "" else min(8, os.cpu_count() or 1)

    def batches(self, idx, bounds, aug):
        """(images NCHW normalised, labels) per (a, b) in `bounds`: the images idx[a:b] with the
        augmentation rows aug[5a:5b] (None: the evaluation transform), in order."""
        steps = _Steps(self.index, bounds, idx.cpu(), None if aug is None else aug.cpu(), self.stride)
        # Loader processes decode batch k+1.. while batch k computes; a single batch has nothing to
        # overlap, and starting them (~0.1 s each) would cost more than it saves.
        workers = min(self.workers, len(bounds)) if len(bounds) > 1 else 0
        if workers > 0:
            self._check_shared_memory(workers, bounds)
        cuda = self.device.type == "cuda"
        loader = torch.utils.data.DataLoader(
            steps, batch_size=None, shuffle=False, num_workers=workers, collate_fn=_as_is,
            pin_memory=cuda, **({"prefetch_factor": PREFETCH} if workers > 0 else {}))
        it = iter(loader)
        try:
            for k in range(len(bounds)):
                try:
                    pixels, error = next(it)
                except RuntimeError as failure:  # a loader died: of a full /dev/shm (SIGBUS), or else
                    cause = _shared_memory_failure(failure)
                    if cause is not None:
                        raise SharedMemoryError(k, cause)
                    raise
                if error is not None:
                    if error[0] == "shared-memory":
                        raise SharedMemoryError(*error[1:])
                    raise DataFileError(*error[1:])
                a, b = bounds[k]
                x = pixels.to(self.device, non_blocking=cuda).permute(0, 3, 1, 2)
                x = self.table[x.long() + self.channel_offsets]
                yield dense(x), self.labels[idx[a:b].to(self.device, dtype=torch.long)]
        finally:
            shutdown = getattr(it, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()
            del it

    def _check_shared_memory(self, workers, bounds):
        """Refuses, before any step, a /dev/shm too small for the batches the loaders hold at once
        (Docker's default is 64 MB; an ImageNet batch of 512 is 77 MB): past it a loader dies of
        SIGBUS or fails to write its batch."""
        try:
            stat = os.statvfs("/dev/shm")
        except OSError:  # no /dev/shm (macOS): PyTorch shares memory another way
            return
        h, w, c = self.shape
        batch = max(b - a for a, b in bounds) * h * w * c
        need = workers * PREFETCH * batch
        free = stat.f_bavail * stat.f_frsize
        if free < need:
            raise SharedMemoryError(0, "%d loader processes x %d prefetched batches of %.1f MB need %.1f MB, and "
                                    "/dev/shm has %.1f MB free" % (workers, PREFETCH, batch / 1e6, need / 1e6,
                                                                    free / 1e6))


PREFETCH = 2  # batches each loader process decodes ahead
# How a loader's death for want of shared memory reads (PyTorch's own messages).
_SHARED_MEMORY_FAILURE = re.compile(r"Bus error|shared memory|/torch_|No space left on device")


def _shared_memory_failure(error):
    """The message of `error` or its cause that says a loader lacked shared memory, or None.
    ("exited unexpectedly" is raised from "killed by signal: Bus error ... shared memory".)"""
    seen = 0
    while error is not None and seen < 5:
        if _SHARED_MEMORY_FAILURE.search(str(error)):
            return str(error)
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


# --------------------------------------------------------------------------------------------
# Models: the TypeScript spec's node list, interpreted functionally


BN_EPSILON = 1e-5
BN_MOMENTUM = 0.1


class Model:
    def __init__(self, worker, spec, layouts, sgd, values):
        self.worker = worker
        self.device = worker.device
        self.nodes = spec["nodes"]
        self.input = spec["input"]
        self.layouts = {name: layout for name, layout in layouts}
        self.param_names = [p for p, _ in worker_params(spec)]
        self.buffer_names = [b for b, _ in worker_buffers(spec)]
        self.params = {}
        self.buffers = {}
        for name in self.param_names:
            self.params[name] = self._convert(name, values[name]).requires_grad_(True)
        for name in self.buffer_names:
            self.buffers[name] = self._convert(name, values[name])
        self.sgd = sgd
        self.ordered = [self.params[n] for n in self.param_names]
        self.optimizer = torch.optim.SGD(self.ordered, lr=0.0, momentum=sgd["momentum"],
                                         weight_decay=sgd["weightDecay"], nesterov=sgd["nesterov"])
        self.masks = {}
        self.masked = []

    def _convert(self, name, t):
        return to_torch(self.layouts.get(name, ["plain"]), t).to(self.device, dtype=torch.float32)

    def _back(self, name, t):
        return to_ts(self.layouts.get(name, ["plain"]), t.detach())

    # ---- state
    def read(self):
        return [(n, self._back(n, self.params[n])) for n in self.param_names] + \
               [(n, self._back(n, self.buffers[n])) for n in self.buffer_names]

    def write(self, values):
        with torch.no_grad():
            for name in self.param_names:
                self.params[name].copy_(self._convert(name, values[name]))
            for name in self.buffer_names:
                self.buffers[name].copy_(self._convert(name, values[name]))

    def momentum(self, name):
        state = self.optimizer.state.get(self.params[name])
        buf = None if state is None else state.get("momentum_buffer")
        return torch.zeros_like(self.params[name]) if buf is None else buf

    def read_momentum(self):
        return [(n, self._back(n, self.momentum(n))) for n in self.param_names]

    def write_momentum(self, values):
        if self.sgd["momentum"] == 0:
            return
        with torch.no_grad():
            for name in self.param_names:
                self.optimizer.state[self.params[name]]["momentum_buffer"] = self._convert(name, values[name]).clone()

    def reset_momentum(self):
        self.optimizer.state.clear()  # the next step starts the buffer at its gradient: μ·0 + g

    def set_mask(self, masks):
        self.masks = {name: self._convert(name, m.to(torch.float32)) for name, m in masks.items()}
        with torch.no_grad():
            for name, m in self.masks.items():
                self.params[name].mul_(m)
                state = self.optimizer.state.get(self.params[name])
                if state is not None and state.get("momentum_buffer") is not None:
                    state["momentum_buffer"].mul_(m)
        self.masked = [(self.params[n], m) for n, m in self.masks.items()]

    # ---- forward
    def values(self, overrides=None):
        v = dict(self.params)
        v.update(self.buffers)
        if overrides:
            v.update(overrides)
        return v

    def forward(self, x, mode, v, statistics=None, normalize=False):
        """mode: "train" (batch statistics, running ones updated), "train-frozen" (batch statistics,
        running ones untouched) or "eval" (running statistics). `normalize` divides the activation
        after every top-level node by its mean, held constant for the gradient (SynFlow)."""
        if not normalize:
            return self._run(self.nodes, x, mode, v, statistics)
        for node in self.nodes:
            x = self._run([node], x, mode, v, statistics)
            # All zeros (every path pruned) stays as it is: a floor would blow up the gradient.
            mean = x.detach().mean()
            x = x / torch.where(mean > 1e-30, mean, torch.ones_like(mean))
        return x

    def _run(self, nodes, x, mode, v, statistics):
        for node in nodes:
            op = node["op"]
            if op == "conv":
                x = F.conv2d(x, v[node["name"] + ".weight"], v.get(node["name"] + ".bias") if node["bias"] else None,
                             node["stride"], node["padding"])
            elif op == "bn":
                name = node["name"]
                gamma, beta = v[name + ".gamma"], v[name + ".beta"]
                if mode == "eval":
                    x = F.batch_norm(x, v[name + ".mean"], v[name + ".variance"], gamma, beta, False, 0.0, BN_EPSILON)
                elif mode == "train":
                    x = F.batch_norm(x, v[name + ".mean"], v[name + ".variance"], gamma, beta, True, BN_MOMENTUM, BN_EPSILON)
                else:
                    if statistics is not None:
                        dims = [0, 2, 3] if x.dim() == 4 else [0]
                        var, mean = torch.var_mean(x.detach().float(), dim=dims, unbiased=False)
                        statistics.append((name, mean, var, x.numel() // x.shape[1]))
                    x = F.batch_norm(x, None, None, gamma, beta, True, 0.0, BN_EPSILON)
            elif op == "relu":
                x = F.relu(x)
            elif op == "maxpool":
                x = F.max_pool2d(x, node["size"], node["stride"], node["padding"])
            elif op == "avgpool":
                x = F.avg_pool2d(x, node["size"], node["stride"], node["padding"])
            elif op == "global-avgpool":
                x = x.mean(dim=(2, 3))
            elif op == "flatten":
                x = x.flatten(1)
            elif op == "dense":
                x = F.linear(x, v[node["name"] + ".weight"], v.get(node["name"] + ".bias") if node["bias"] else None)
            elif op == "residual":
                body = self._run(node["body"], x, mode, v, statistics)
                shortcut = self._run(node["shortcut"], x, mode, v, statistics) if node["shortcut"] else x
                x = body + shortcut
            else:
                raise InputError("spec: unknown node op %r" % op)
        return x

    def autocast(self):
        if self.worker.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return torch.autocast(device_type=self.device.type, enabled=False)

    # ---- requests
    def train(self, data, idx, offsets, aug, lrs, resets, progress):
        steps = len(lrs)
        losses, hits = [], []
        group = self.optimizer.param_groups[0]
        v = self.values()
        bounds = [(offsets[k], offsets[k + 1]) for k in range(steps)]
        for k, (x, y) in enumerate(data.batches(idx, bounds, aug)):
            if resets[k]:
                self.reset_momentum()
            with self.autocast():
                logits = self.forward(x, "train", v)
            loss = F.cross_entropy(logits.float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.masked:  # the gradient is masked before weight decay and momentum see it
                torch._foreach_mul_([p.grad for p, _ in self.masked], [m for _, m in self.masked])
            group["lr"] = lrs[k]
            self.optimizer.step()
            losses.append(loss.detach())
            hits.append((logits.detach().argmax(1) == y).sum())
            progress.tick(k + 1)
        if steps == 0:
            return torch.empty(0), torch.empty(0, dtype=torch.int32)
        return torch.stack(losses).float(), torch.stack(hits).to(torch.int32)

    def evaluate(self, data, batch_size, progress):
        sums, rights = [], []
        v = self.values()
        if batch_size < 1:
            raise ValueError("batchSize must be at least 1, got %d" % batch_size)
        idx = torch.arange(data.count, device=data.device)
        bounds = [(a, min(data.count, a + batch_size)) for a in range(0, data.count, batch_size)]
        with torch.no_grad():
            for (start, _), (x, y) in zip(bounds, data.batches(idx, bounds, None)):
                with self.autocast():
                    logits = self.forward(x, "eval", v)
                sums.append(F.cross_entropy(logits.float(), y, reduction="sum"))
                rights.append((logits.argmax(1) == y).sum())
                progress.tick(start)
        # Summed in float64, batch by batch, as each batch's float32 sum was computed.
        loss = sum(float(s) for s in torch.stack(sums).cpu().tolist())
        correct = int(torch.stack(rights).sum().item())
        return loss, correct

    def gradients(self, batches, mode, objective, overrides, wrt, progress, normalize=False):
        for name in wrt:
            if name not in self.params:
                raise InputError("wrt: expected parameters of the model, got %r" % name)
        given = {}
        for name, t in overrides.items():
            if name not in self.params and name not in self.buffers:
                raise InputError("values.%s: expected a parameter or buffer of the model" % name)
            given[name] = self._convert(name, t)
        xs = [given[n].requires_grad_(True) if n in given else self.params[n] for n in wrt]
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        sums = [torch.zeros(x.shape, dtype=torch.float64, device=self.device) for x in xs]
        forward_mode = "eval" if mode == "eval" else "train-frozen"
        for i, (x, y) in enumerate(batches):
            v = self.values(given)
            for n, t in zip(wrt, xs):
                v[n] = t
            with self.autocast():
                logits = self.forward(x, forward_mode, v, None, normalize).float()
            if objective == "logit-sum":
                value = logits.sum()
            elif objective == "cross-entropy-mean":
                value = F.cross_entropy(logits, y)
            else:
                value = F.cross_entropy(logits, y, reduction="sum")
            parts = torch.autograd.grad(value, xs, allow_unused=True)
            total += value.detach().double()
            for s, g in zip(sums, parts):
                if g is not None:
                    s += g.double()
            progress.tick(i)
        return float(total), [(n, to_ts(self.layouts.get(n, ["plain"]), s)) for n, s in zip(wrt, sums)]

    def batch_statistics(self, x):
        statistics = []
        with torch.no_grad(), self.autocast():
            self.forward(x, "train-frozen", self.values(), statistics)
        return statistics


def worker_params(spec):
    out = []

    def visit(nodes):
        for node in nodes:
            op = node["op"]
            if op == "conv":
                out.append((node["name"] + ".weight", None))
                if node["bias"]:
                    out.append((node["name"] + ".bias", None))
            elif op == "dense":
                out.append((node["name"] + ".weight", None))
                if node["bias"]:
                    out.append((node["name"] + ".bias", None))
            elif op == "bn":
                out.append((node["name"] + ".gamma", None))
                out.append((node["name"] + ".beta", None))
            elif op == "residual":
                visit(node["body"])
                visit(node["shortcut"])

    visit(spec["nodes"])
    return out


def worker_buffers(spec):
    out = []

    def visit(nodes):
        for node in nodes:
            if node["op"] == "bn":
                out.append((node["name"] + ".mean", None))
                out.append((node["name"] + ".variance", None))
            elif node["op"] == "residual":
                visit(node["body"])
                visit(node["shortcut"])

    visit(spec["nodes"])
    return out


# --------------------------------------------------------------------------------------------
# The worker


class Worker:
    def __init__(self):
        self.device = None
        self.precision = "fp32"
        self.data = {}
        self.models = {}
        self.next_model = 1

    def hello(self, header, tensors):
        requested = header["device"]
        self.precision = header.get("precision", "fp32")
        threads = header.get("threads")
        if threads:
            torch.set_num_threads(int(threads))
        kind = requested.split(":")[0]
        if kind == "cuda":
            if not torch.cuda.is_available():
                raise InputError("training.device: expected cpu (this PyTorch %s sees no CUDA device: %s), got %s"
                                 % (torch.__version__, "built without CUDA" if torch.version.cuda is None
                                    else "no GPU or driver found", requested))
            index = int(requested.split(":")[1]) if ":" in requested else 0
            count = torch.cuda.device_count()
            if index >= count:
                raise InputError("training.device: expected one of %s (%d GPUs), got %s"
                                 % (", ".join("cuda:%d" % i for i in range(count)), count, requested))
            self.device = torch.device("cuda", index)
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
            torch.use_deterministic_algorithms(True, warn_only=True)
            tf32 = self.precision == "tf32"
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
            name = torch.cuda.get_device_name(self.device)
        elif kind == "mps":
            if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
                raise InputError("training.device: expected cpu or cuda (this PyTorch %s has no MPS device), got mps"
                                 % torch.__version__)
            self.device = torch.device("mps")
            name = "Apple MPS"
        elif kind == "cpu":
            self.device = torch.device("cpu")
            name = platform.processor() or platform.machine()
        else:
            raise InputError("training.device: expected cpu, cuda, cuda:N or mps, got %s" % requested)
        if self.precision == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
            raise InputError("training.precision: expected fp32 or tf32 (%s has no bfloat16), got bf16" % name)
        return {
            "protocol": PROTOCOL,
            "torchVersion": torch.__version__,
            "cudaVersion": torch.version.cuda if kind == "cuda" else None,
            "cudnnVersion": torch.backends.cudnn.version() if kind == "cuda" else None,
            "deviceName": name,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "deterministic": kind == "cuda",
            "pillow": self._pillow_words(),
        }, []

    @staticmethod
    def _pillow_words():
        """'Pillow 9.4.0 with libjpeg-turbo 2.1.5' (what decodes folder data), or None without it."""
        try:
            _pillow()
            return "Pillow %s with %s" % _pillow_build()
        except Exception:
            return None

    def data_put(self, header, tensors):
        if header.get("kind") == "files":
            self.data[header["key"]] = FileData(header["root"], _bytes_of(tensors["files"]), tensors["sizes"],
                                                tensors["labels"], tensors["tables"], header["shape"],
                                                int(header["resize"]), self.device)
        else:
            self.data[header["key"]] = Data(tensors["images"], tensors["labels"], tensors["tables"], header["shape"],
                                            self.device)
        return {}, []

    def data_drop(self, header, tensors):
        self.data.pop(header["key"], None)
        return {}, []

    def model_create(self, header, tensors):
        model_id = self.next_model
        self.next_model += 1
        self.models[model_id] = Model(self, header["spec"], header["layouts"], header["sgd"], tensors)
        return {"model": model_id}, []

    def model(self, header):
        found = self.models.get(header["model"])
        if found is None:
            raise InputError("model: expected a live model, got %r" % header["model"])
        return found

    def dataset(self, key):
        found = self.data.get(key)
        if found is None:
            raise InputError("data: expected a data set sent before, got %r" % key)
        return found

    def op_model_free(self, header, tensors):
        self.models.pop(header["model"], None)
        if self.device.type == "cuda" and not self.models:
            torch.cuda.empty_cache()
        return {}, []

    def op_model_read(self, header, tensors):
        return {}, self.model(header).read()

    def op_model_write(self, header, tensors):
        self.model(header).write(tensors)
        return {}, []

    def op_model_read_momentum(self, header, tensors):
        return {}, self.model(header).read_momentum()

    def op_model_write_momentum(self, header, tensors):
        self.model(header).write_momentum(tensors)
        return {}, []

    def op_model_set_mask(self, header, tensors):
        self.model(header).set_mask(tensors)
        return {}, []

    def op_model_reset_momentum(self, header, tensors):
        self.model(header).reset_momentum()
        return {}, []

    def _indices(self, tensors, name="indices"):
        return tensors[name].to(self.device, dtype=torch.long, non_blocking=True)

    def _aug(self, tensors):
        return tensors["augmentation"].to(self.device) if "augmentation" in tensors else None

    def op_model_train(self, header, tensors, progress):
        model = self.model(header)
        data = self.dataset(header["data"])
        offsets = tensors["offsets"].tolist()
        lrs = tensors["learningRates"].tolist()
        resets = tensors["resetMomentum"].tolist()
        losses, hits = model.train(data, self._indices(tensors), offsets, self._aug(tensors), lrs, resets, progress)
        return {}, [("losses", losses), ("correct", hits)]

    def op_model_evaluate(self, header, tensors, progress):
        model = self.model(header)
        loss, correct = model.evaluate(self.dataset(header["data"]), int(header["batchSize"]), progress)
        return {"loss": loss, "correct": correct}, []

    def op_model_gradients(self, header, tensors, progress):
        model = self.model(header)
        overrides = {k[len("value:"):]: t for k, t in tensors.items() if k.startswith("value:")}
        if header["input"] == "ones":
            h, w, c = model.input
            batches = [(torch.ones(1, c, h, w, device=self.device), None)]  # row-major strides
        else:
            data = self.dataset(header["data"])
            idx = self._indices(tensors)
            aug = self._aug(tensors)
            size = int(header["batchSize"])
            n = idx.shape[0]
            batches = data.batches(idx, [(a, min(n, a + size)) for a in range(0, n, size)], aug)
        value, grads = model.gradients(batches, header["mode"], header["objective"], overrides, header["wrt"], progress,
                                       bool(header.get("normalize", False)))
        return {"value": value}, grads

    def one_batch(self, header, tensors):
        """The normalised batch (NCHW) and labels of the request's indices and augmentation."""
        idx = self._indices(tensors)
        return next(iter(self.dataset(header["data"]).batches(idx, [(0, idx.shape[0])], self._aug(tensors))))

    def op_data_batch(self, header, tensors):
        """The normalised batches as a model would see them, NHWC like the TypeScript batcher's,
        with their labels, concatenated: one batch, or the steps idx[offsets[k]:offsets[k+1]]
        (through the loader processes, as training reads them). For tests that compare the
        engines' input pipelines value for value."""
        if "offsets" not in tensors:
            x, y = self.one_batch(header, tensors)
        else:
            offsets = tensors["offsets"].tolist()
            bounds = [(offsets[k], offsets[k + 1]) for k in range(len(offsets) - 1)]
            parts = list(self.dataset(header["data"]).batches(self._indices(tensors), bounds, self._aug(tensors)))
            x, y = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        return {}, [("images", dense(x.permute(0, 2, 3, 1))), ("labels", y.to(torch.int32))]

    def op_model_batch_statistics(self, header, tensors, progress):
        model = self.model(header)
        x, _ = self.one_batch(header, tensors)
        out, listed = [], []
        for name, mean, var, count in model.batch_statistics(x):
            listed.append({"layer": name, "count": count})
            out += [(name + ":mean", mean), (name + ":variance", var)]
        return {"layers": listed}, out

    def handle(self, header, tensors):
        op = header["op"]
        if op == "hello":
            return self.hello(header, tensors)
        if self.device is None:
            raise InputError("op: expected hello first, got %r" % op)
        if op == "data.put":
            return self.data_put(header, tensors)
        if op == "data.drop":
            return self.data_drop(header, tensors)
        if op == "model.create":
            return self.model_create(header, tensors)
        handler = getattr(self, "op_" + op.replace(".", "_").replace("-", "_"), None)
        if handler is None:
            raise InputError("op: unknown operation %r" % op)
        if handler.__code__.co_argcount == 4:
            return handler(header, tensors, Progress(header["id"]))
        return handler(header, tensors)


def watch_parent():
    """Exit when the process that started this one is gone (killed with -9, say)."""
    parent = os.getppid()
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(3)


def main():
    global torch, F
    faulthandler.enable()  # a crash inside PyTorch prints where it happened to stderr
    # Ctrl-C reaches the whole process group; the TypeScript side decides what it means (a sweep
    # drains its runs), and this process ends with its parent or its stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=watch_parent, daemon=True).start()
    try:
        import torch as _torch
        import torch.nn.functional as _F
    except Exception as error:  # report what is missing instead of a bare traceback
        header, _ = read_frame_without_torch()
        write_frame_without_torch({"id": header.get("id", 0) if header else 0, "ok": False, "kind": "missing-torch",
                                   "error": "%s: %s" % (type(error).__name__, error),
                                   "python": sys.executable})
        return
    torch, F = _torch, _F
    DTYPES.update({"float32": torch.float32, "float64": torch.float64, "uint8": torch.uint8,
                   "int16": torch.int16, "int32": torch.int32})
    worker = Worker()
    while True:
        header, tensors = read_frame()
        if header is None:
            return
        try:
            reply, out = worker.handle(header, tensors)
            write_frame(dict(reply, id=header["id"], ok=True), out)
        except InputError as error:
            write_frame({"id": header["id"], "ok": False, "kind": "input", "error": str(error)})
        except DataFileError as error:
            write_frame({"id": header["id"], "ok": False, "kind": "data-file", "error": error.message,
                         "file": error.path, "step": error.step})
        except MissingPillowError as error:
            write_frame({"id": header["id"], "ok": False, "kind": "missing-pillow", "error": str(error),
                         "python": sys.executable})
        except PillowBuildError as error:
            write_frame({"id": header["id"], "ok": False, "kind": "pillow-build", "error": str(error),
                         "python": sys.executable, "pillow": error.version, "jpeg": error.jpeg})
        except SharedMemoryError as error:
            write_frame({"id": header["id"], "ok": False, "kind": "shared-memory", "error": str(error),
                         "step": error.step})
        except Exception as error:  # a runtime failure: the message and where it happened
            cause = _shared_memory_failure(error) if "DataLoader" in str(error) else None
            if cause is not None:
                # PyTorch's SIGCHLD handler raised it outside the batch loop (mid-step, say).
                write_frame({"id": header["id"], "ok": False, "kind": "shared-memory", "error": cause, "step": None})
                continue
            kind = "runtime"
            message = "%s: %s" % (type(error).__name__, error)
            if "out of memory" in str(error).lower():
                message += " (use a smaller batch or model)"
            write_frame({"id": header["id"], "ok": False, "kind": kind, "error": message,
                         "traceback": traceback.format_exc()})


def read_frame_without_torch():
    head = read_exact(4)
    if head is None:
        return None, {}
    (length,) = struct.unpack("<I", head)
    return json.loads(read_exact(length).decode("utf-8")), {}


def write_frame_without_torch(header):
    body = json.dumps(dict(header, tensors=[])).encode("utf-8")
    _write_all(struct.pack("<I", len(body)) + body)


if __name__ == "__main__":
    main()
