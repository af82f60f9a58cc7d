"""H.264 bitstream helpers for splicing: avcC records, NAL framing, parameter-set ids."""

from __future__ import annotations

from dataclasses import dataclass, field

NAL_SLICE = 1
NAL_IDR = 5
NAL_SPS = 7
NAL_PPS = 8
#: Access unit delimiter: MPEG-TS streams carry one per frame; MP4 and Matroska do not.
NAL_AUD = 9

#: avcC profiles whose record carries the chroma/bit-depth extension after the PPS list.
_EXTENDED_PROFILES = {100, 110, 122, 144}


@dataclass
class AvcConfig:
    """An ``AVCDecoderConfigurationRecord`` (the avcC box of MP4/MKV H.264 tracks)."""

    profile: int
    compat: int
    level: int
    length_size: int
    sps: list[bytes] = field(default_factory=list)
    pps: list[bytes] = field(default_factory=list)
    trailer: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> AvcConfig:
        """Parse an avcC record; ``ValueError`` when it is not one (e.g. Annex B extradata)."""
        if len(data) < 7 or data[0] != 1:
            raise ValueError("not an avcC record")
        pos = 5
        sps: list[bytes] = []
        pps: list[bytes] = []
        for out, count_mask in ((sps, 0x1F), (pps, 0xFF)):
            count = data[pos] & count_mask
            pos += 1
            for _ in range(count):
                if pos + 2 > len(data):
                    raise ValueError("truncated avcC record")
                size = int.from_bytes(data[pos : pos + 2], "big")
                pos += 2
                if pos + size > len(data):
                    raise ValueError("truncated avcC record")
                out.append(bytes(data[pos : pos + size]))
                pos += size
        return cls(
            profile=data[1],
            compat=data[2],
            level=data[3],
            length_size=(data[4] & 0x03) + 1,
            sps=sps,
            pps=pps,
            trailer=bytes(data[pos:]),
        )

    def serialize(self) -> bytes:
        out = bytearray([1, self.profile, self.compat, self.level, 0xFC | (self.length_size - 1)])
        out.append(0xE0 | len(self.sps))
        for nal in self.sps:
            out += len(nal).to_bytes(2, "big") + nal
        out.append(len(self.pps))
        for nal in self.pps:
            out += len(nal).to_bytes(2, "big") + nal
        trailer = self.trailer
        if not trailer and self.profile in _EXTENDED_PROFILES:
            # 4:2:0 8-bit, no SPS extensions: what x264 writes for High profile.
            trailer = bytes([0xFC | 1, 0xF8, 0xF8, 0])
        out += trailer
        return bytes(out)


def split_length_prefixed(data: bytes, length_size: int) -> list[bytes]:
    """NAL units of an MP4-style sample (each prefixed by its big-endian length)."""
    nals: list[bytes] = []
    pos = 0
    while pos + length_size <= len(data):
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > len(data):
            break
        nals.append(data[pos : pos + size])
        pos += size
    return nals


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream (start-code delimited)."""
    nals: list[bytes] = []
    starts: list[tuple[int, int]] = []  # (start of start code, start of NAL)
    i = 0
    n = len(data)
    while True:
        i = data.find(b"\x00\x00\x01", i)
        if i < 0:
            break
        code_start = i - 1 if i > 0 and data[i - 1] == 0 else i
        starts.append((code_start, i + 3))
        i += 3
    for k, (_, nal_start) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else n
        nal = data[nal_start:end].rstrip(b"\x00") if k + 1 < len(starts) else data[nal_start:end]
        if nal:
            nals.append(nal)
    return nals


def is_annexb(data: bytes) -> bool:
    """Whether ``data`` (a packet or extradata) is start-code framed, as in MPEG-TS."""
    return data[:3] == b"\x00\x00\x01" or data[:4] == b"\x00\x00\x00\x01"


def split_nals(data: bytes, length_size: int | None) -> list[bytes]:
    """NAL units of a packet: length-prefixed (MP4, Matroska) or, with ``length_size``
    None, start-code framed (MPEG-TS, raw .h264)."""
    if length_size is None:
        return split_annexb(data)
    return split_length_prefixed(data, length_size)


def join_length_prefixed(nals: list[bytes], length_size: int) -> bytes:
    return b"".join(len(nal).to_bytes(length_size, "big") + nal for nal in nals)


def nal_type(nal: bytes) -> int:
    return nal[0] & 0x1F


def is_reference(nals: list[bytes]) -> bool:
    """Whether a picture made of ``nals`` may be referenced by others (``nal_ref_idc``
    of its slices): a non-reference picture (most B-frames) can be left undecoded."""
    slices = [n for n in nals if n and nal_type(n) in (NAL_SLICE, NAL_IDR)]
    return not slices or any(n[0] & 0x60 for n in slices)


def _rbsp(nal: bytes) -> bytes:
    """The payload without emulation-prevention bytes (00 00 03 -> 00 00)."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def _read_ue(data: bytes, bitpos: int) -> tuple[int, int]:
    """Read one unsigned Exp-Golomb value; returns (value, new bit position)."""
    zeros = 0
    while not (data[bitpos // 8] >> (7 - bitpos % 8)) & 1:
        zeros += 1
        bitpos += 1
        if zeros > 31:
            raise ValueError("bad Exp-Golomb code")
    bitpos += 1
    value = 0
    for _ in range(zeros):
        value = (value << 1) | ((data[bitpos // 8] >> (7 - bitpos % 8)) & 1)
        bitpos += 1
    return (1 << zeros) - 1 + value, bitpos


def sps_id(sps: bytes) -> int:
    """``seq_parameter_set_id`` of an SPS NAL (header, profile, flags, level come first)."""
    return _read_ue(_rbsp(sps), 32)[0]


def pps_id(pps: bytes) -> int:
    """``pic_parameter_set_id`` of a PPS NAL."""
    return _read_ue(_rbsp(pps), 8)[0]


def config_from_nals(nals: list[bytes], length_size: int = 4) -> AvcConfig:
    """An avcC record for a stream whose parameter sets travel in-band (MPEG-TS).

    ``nals`` holds the SPS and PPS seen in the stream; ValueError when there is no SPS
    or PPS, or when one id is given two different contents (the stream changes its
    parameters midway, which one record cannot describe).
    """
    sps: dict[int, bytes] = {}
    pps: dict[int, bytes] = {}
    for nal in nals:
        kind = nal_type(nal)
        if kind == NAL_SPS:
            table, ident = sps, sps_id(nal)
        elif kind == NAL_PPS:
            table, ident = pps, pps_id(nal)
        else:
            continue
        if table.get(ident, nal) != nal:
            raise ValueError("the stream changes its parameter sets midway")
        table[ident] = nal
    if not sps or not pps:
        raise ValueError("no parameter sets")
    first = next(iter(sps.values()))
    if len(first) < 4:
        raise ValueError("truncated SPS")
    return AvcConfig(
        profile=first[1],
        compat=first[2],
        level=first[3],
        length_size=length_size,
        sps=list(sps.values()),
        pps=list(pps.values()),
    )
