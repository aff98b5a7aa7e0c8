// Looks at an LMDB data file before it is mapped. A damaged file does not make LMDB return an
// error: it maps the file and follows its page numbers, so a truncated file faults with SIGBUS and
// a garbled meta page with SIGSEGV — the partner's whole process dies. Reading the two meta pages
// with plain file reads first turns those into a typed error. The layout is lmdb-js 3.x's liblmdb
// (node_modules/lmdb/dependencies/lmdb/libraries/liblmdb/mdb.c), 64-bit: a 24-byte page header
// (pgno u64, txnid u64, pad u16, flags u16, lower/upper u16), then MDB_meta: magic u32, version
// u32, address u64, mapsize u64, two MDB_db of 48 bytes (the free DB's md_pad holds the page size),
// last page number u64, txnid u64.
//
// A marker file written at the first successful open records that a database exists here, so an
// emptied or deleted data file is refused instead of silently starting with no sessions.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { StoreAccessError, StoreCorruptError } from '../../domain/errors.js';

export const DATA_FILE = 'data.mdb';
export const MARKER_FILE = 'switchboard-store.json';

const MDB_MAGIC = 0xbeefc0de;
const MDB_DATA_VERSION = 2;
const P_META = 0x08;
const PAGE_HEADER = 24;
const META_READ = PAGE_HEADER + 136;

interface Meta {
  pageSize: number;
  lastPage: bigint;
  txnid: bigint;
  /** Root pages of the free-page DB and the main DB (which holds the named DBs). */
  roots: [bigint, bigint];
}

const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_OVERFLOW = 0x04;
const P_LEAF2 = 0x20;
const F_BIGDATA = 0x01;
const F_SUBDATA = 0x02;
const NODE_HEADER = 8;
const DB_RECORD = 48;
const P_INVALID = 0xffff_ffff_ffff_ffffn;

function readMeta(buf: Buffer, pgno: number, where: string): Meta | string {
  if (buf.length < META_READ) return `${where} is cut short`;
  if (buf.readBigUInt64LE(0) !== BigInt(pgno) || (buf.readUInt16LE(18) & P_META) === 0) return `${where} is not a meta page`;
  if (buf.readUInt32LE(PAGE_HEADER) !== MDB_MAGIC) return `${where} lacks the LMDB magic number`;
  const version = buf.readUInt32LE(PAGE_HEADER + 4) & 0xffff;
  if (version !== MDB_DATA_VERSION) return `${where} has format version ${version}, this build reads ${MDB_DATA_VERSION}`;
  const pageSize = buf.readUInt32LE(PAGE_HEADER + 24);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return `${where} gives an impossible page size (${pageSize})`;
  return {
    pageSize,
    lastPage: buf.readBigUInt64LE(PAGE_HEADER + 120),
    txnid: buf.readBigUInt64LE(PAGE_HEADER + 128),
    roots: [buf.readBigUInt64LE(PAGE_HEADER + 24 + 40), buf.readBigUInt64LE(PAGE_HEADER + 24 + DB_RECORD + 40)],
  };
}

/**
 * Follows every page the newest commit can reach — the free-page tree, the main tree and each
 * named DB's tree — and checks what LMDB would trust blindly through its mapping: each page says it
 * is the page it was reached as, has a known type, and its node offsets, sizes, child and overflow
 * page numbers stay inside the page and the file. Scrambled bytes there are what make a mapped
 * open fault; inside a value they only fail that value's decoding, which a read reports as a typed
 * error. One read per reachable page: a 140 MB store takes about 0.2 s from the page cache; cold,
 * it reads as fast as the disk does.
 */
function walkTrees(fd: number, meta: Meta): string | undefined {
  const psize = meta.pageSize;
  const pageCount = Number(meta.lastPage) + 1;
  const seen = new Set<number>();
  const page = Buffer.alloc(psize);
  const pending: Array<{ pgno: bigint; from: string }> = meta.roots.map((pgno, i) => ({ pgno, from: i === 0 ? 'the free-page tree' : 'the main tree' }));
  while (pending.length) {
    const { pgno: big, from } = pending.pop()!;
    if (big === P_INVALID) continue; // an empty tree
    if (big < 2n || big >= BigInt(pageCount)) return `${from} points at page ${big}, outside the file's ${pageCount} pages`;
    const pgno = Number(big);
    if (seen.has(pgno)) return `page ${pgno} is reached twice (from ${from})`;
    seen.add(pgno);
    if (readSync(fd, page, 0, psize, pgno * psize) !== psize) return `page ${pgno} cannot be read whole`;
    if (page.readBigUInt64LE(0) !== big) return `page ${pgno} (from ${from}) carries the number ${page.readBigUInt64LE(0)}`;
    const flags = page.readUInt16LE(18);
    const isBranch = (flags & P_BRANCH) !== 0;
    if (!isBranch && (flags & P_LEAF) === 0) return `page ${pgno} (from ${from}) is neither a branch nor a leaf (flags ${flags.toString(16)})`;
    if (flags & P_LEAF2) continue; // fixed-size duplicates: no nodes to follow (Switchboard makes none)
    const lower = page.readUInt16LE(20);
    const upper = page.readUInt16LE(22);
    if (lower % 2 !== 0 || lower > upper || PAGE_HEADER + upper > psize) return `page ${pgno} has impossible bounds (${lower}, ${upper})`;
    for (let i = 0; i < lower / 2; i++) {
      const at = PAGE_HEADER + page.readUInt16LE(PAGE_HEADER + 2 * i);
      if (at < PAGE_HEADER + upper || at + NODE_HEADER > psize) return `page ${pgno} node ${i} lies outside its page`;
      const lo = page.readUInt16LE(at);
      const hi = page.readUInt16LE(at + 2);
      const nodeFlags = page.readUInt16LE(at + 4);
      const keySize = page.readUInt16LE(at + 6);
      const dataAt = at + NODE_HEADER + keySize;
      if (dataAt > psize) return `page ${pgno} node ${i} has a key past the page's end`;
      const label = `page ${pgno} node ${i}`;
      if (isBranch) {
        pending.push({ pgno: BigInt(lo) | (BigInt(hi) << 16n) | (BigInt(nodeFlags) << 32n), from: label });
        continue;
      }
      const dataSize = lo | (hi << 16);
      if (nodeFlags & F_BIGDATA) {
        if (dataAt + 8 > psize) return `${label} has an overflow reference past the page's end`;
        const first = page.readBigUInt64LE(dataAt);
        const needed = Math.floor((PAGE_HEADER - 1 + dataSize) / psize) + 1;
        if (first < 2n || first + BigInt(needed) > BigInt(pageCount)) return `${label} points at overflow pages ${first}+${needed}, outside the file`;
        const head = Buffer.alloc(PAGE_HEADER);
        readSync(fd, head, 0, PAGE_HEADER, Number(first) * psize);
        if (head.readBigUInt64LE(0) !== first || (head.readUInt16LE(18) & P_OVERFLOW) === 0 || head.readUInt32LE(20) < needed) return `${label}: its overflow page ${first} is not the one it names`;
        continue;
      }
      if (dataAt + dataSize > psize) return `${label} has a value past the page's end`;
      if (nodeFlags & F_SUBDATA) {
        if (dataSize !== DB_RECORD) return `${label} is a named DB record of ${dataSize} bytes`;
        pending.push({ pgno: page.readBigUInt64LE(dataAt + 40), from: `the named DB at ${label}` });
      }
    }
  }
  return undefined;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = readSync(fd, buf, 0, length, position);
  return buf.subarray(0, n);
}

export interface DataFileState {
  /** No database here yet: LMDB will create one. */
  fresh: boolean;
  /** The marker is missing (a new store, or one created before markers existed). */
  needsMarker: boolean;
}

/** Throws SB_STORE_CORRUPT when the data file cannot be opened safely; never maps it. */
export function checkDataFile(dir: string): DataFileState {
  const dataPath = join(dir, DATA_FILE);
  const markerPath = join(dir, MARKER_FILE);
  let marker: { createdAt?: string } | undefined;
  if (existsSync(markerPath)) {
    try {
      marker = JSON.parse(readFileSync(markerPath, 'utf8')) as { createdAt?: string };
    } catch {
      marker = {};
    }
  }
  const since = marker?.createdAt ? ` (it has held one since ${marker.createdAt})` : '';
  let size: number;
  try {
    size = statSync(dataPath).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StoreAccessError(dir, `cannot read ${DATA_FILE} (${(err as NodeJS.ErrnoException).code})`, (err as NodeJS.ErrnoException).code, { cause: err });
    if (marker) throw new StoreCorruptError(dir, `${DATA_FILE} is missing though ${MARKER_FILE} says a database exists here${since}`);
    return { fresh: true, needsMarker: true };
  }
  if (size === 0) {
    // Without a marker an empty file is what a crash during the very first open leaves: nothing was
    // ever committed to it (commits start after open returns), so starting empty loses nothing.
    if (marker) throw new StoreCorruptError(dir, `${DATA_FILE} is empty (0 bytes) though a database exists here${since}`);
    return { fresh: true, needsMarker: true };
  }

  let fd: number;
  try {
    fd = openSync(dataPath, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StoreAccessError(dir, `cannot read ${DATA_FILE} (${code})`, code, { cause: err });
  }
  try {
    const first = readMeta(readAt(fd, 0, META_READ), 0, 'meta page 0');
    if (typeof first === 'string') throw new StoreCorruptError(dir, `${DATA_FILE}: ${first}`);
    const second = readMeta(readAt(fd, first.pageSize, META_READ), 1, 'meta page 1');
    if (typeof second === 'string') throw new StoreCorruptError(dir, `${DATA_FILE}: ${second}`);
    if (second.pageSize !== first.pageSize) throw new StoreCorruptError(dir, `${DATA_FILE}: the meta pages disagree on the page size (${first.pageSize}, ${second.pageSize})`);
    // Every page up to the last one a commit used is written before that commit's meta page, so
    // a file shorter than that has lost data (a mapping would fault on the missing pages).
    for (const meta of [first, second]) {
      const needed = (meta.lastPage + 1n) * BigInt(meta.pageSize);
      if (BigInt(size) < needed) throw new StoreCorruptError(dir, `${DATA_FILE} is truncated: ${size} bytes where its commit ${meta.txnid} needs ${needed}`);
    }
    // LMDB opens the newest commit; only its tree must be whole (pages of the older one may be
    // reused by a commit that a crash cut short before its meta page was written).
    const latest = first.txnid >= second.txnid ? first : second;
    const problem = walkTrees(fd, latest);
    if (problem) throw new StoreCorruptError(dir, `${DATA_FILE}: ${problem}`);
    return { fresh: false, needsMarker: marker === undefined };
  } finally {
    closeSync(fd);
  }
}

/** Records that a database exists in `dir` (written once, atomically). */
export function writeMarker(dir: string): void {
  const markerPath = join(dir, MARKER_FILE);
  const tmp = `${markerPath}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, `${JSON.stringify({ createdAt: new Date().toISOString(), note: 'Switchboard store: a database exists in this directory. Do not delete while data.mdb is kept.' })}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, markerPath);
}
