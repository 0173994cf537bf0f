import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  decodeCifarRecords,
  downloadCifar,
  loadCifar10,
  loadCifar10File,
  loadCifar100,
} from './cifar.js';
import { classCounts } from './dataset.js';
import { md5, sha256 } from './files.js';

/** Temporary folders (tens of MB of records each), removed when the file's tests end. */
const temporary: string[] = [];
function temporaryDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temporary.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

/** `count` records whose label and pixels encode the record index, so decoding can be checked. */
function records(count: number, labelBytes: 1 | 2, classes: number): Uint8Array {
  const size = labelBytes + 3072;
  const bytes = new Uint8Array(count * size);
  for (let n = 0; n < count; n++) {
    const base = n * size;
    bytes[base] = n % 20;
    bytes[base + labelBytes - 1] = n % classes;
    for (let p = 0; p < 3072; p++)
      bytes[base + labelBytes + p] = (n + Math.floor(p / 1024) * 85 + (p % 1024)) & 0xff;
  }
  return bytes;
}

describe('CIFAR binary records', () => {
  test('decode planes R, G, B into HWC pixels and read the chosen label byte', () => {
    const bytes = records(3, 2, 100);
    const fine = decodeCifarRecords(bytes, 2, 1, 'x');
    const coarse = decodeCifarRecords(bytes, 2, 0, 'x');
    expect(Array.from(fine.labels)).toEqual([0, 1, 2]);
    expect(Array.from(coarse.labels)).toEqual([0, 1, 2]);
    // Image 1, pixel (0, 5): R = 1 + 5, G = 1 + 85 + 5, B = 1 + 170 + 5.
    expect(Array.from(fine.images.subarray(3072 + 15, 3072 + 18))).toEqual([6, 91, 176]);
    expect(() => decodeCifarRecords(bytes.subarray(0, 5000), 2, 1, 'part.bin')).toThrow(
      /part\.bin: 5000 bytes is not a whole number of 3074-byte records/,
    );
  });
});

describe('CIFAR-10 and CIFAR-100 from a directory', () => {
  const root = temporaryDir('cifar-');
  const ten = join(root, 'cifar-10-batches-bin');
  beforeAll(() => {
    mkdirSync(ten);
    for (const name of [
      'data_batch_1',
      'data_batch_2',
      'data_batch_3',
      'data_batch_4',
      'data_batch_5',
      'test_batch',
    ]) {
      writeFileSync(join(ten, `${name}.bin`), records(10000, 1, 10));
    }
    mkdirSync(join(root, 'cifar-100-binary'));
    writeFileSync(join(root, 'cifar-100-binary', 'test.bin'), records(10000, 2, 100));
  });

  test('loads all five training batches and the test batch, from the folder or its parent', () => {
    const train = loadCifar10('train', root);
    expect(train.count).toBe(50000);
    expect(classCounts(train)).toEqual(new Array(10).fill(5000));
    expect(loadCifar10('test', ten).count).toBe(10000);
  });
  test('loads CIFAR-100 with fine or coarse labels', () => {
    expect(loadCifar100('test', root).classes).toBe(100);
    const coarse = loadCifar100('test', root, 'coarse');
    expect(coarse.classes).toBe(20);
    expect(Array.from(coarse.labels.subarray(0, 3))).toEqual([0, 1, 2]);
  });
  test('names the missing or truncated file and says how to get the data', () => {
    expect(() => loadCifar100('train', root)).toThrow(
      /cifar-100-binary\/train\.bin: not found .*cifar-100-binary\.tar\.gz \(md5 03b5dce0/,
    );
    const broken = temporaryDir('cifar-broken-');
    writeFileSync(join(broken, 'test_batch.bin'), records(9999, 1, 10));
    expect(() => loadCifar10('test', broken)).toThrow(
      /test_batch\.bin: 30726927 bytes, expected 30730000/,
    );
    expect(() => loadCifar10('test', join(root, 'absent'))).toThrow(
      /absent: no such directory\. Download https:\/\/www\.cs\.toronto\.edu/,
    );
  });
});

const subset = join(
  import.meta.dirname,
  '../../../shared/data/cifar10-subset/data_batch_1_first4000.bin',
);

describe.runIf(existsSync(subset))('the real CIFAR-10 subset in ../shared/data', () => {
  test('decodes to the published label counts and channel means', () => {
    expect(sha256(readFileSync(subset))).toBe(
      '0993cf8b8e43bc207603aef9787006995746513f5e3fa5a52e06d1b069926330',
    );
    const data = loadCifar10File(subset);
    expect(data.count).toBe(4000);
    expect(classCounts(data)).toEqual([396, 366, 420, 384, 422, 393, 414, 385, 407, 413]);
    const sums = [0, 0, 0];
    data.images.forEach((v, i) => (sums[i % 3]! += v));
    const means = sums.map((s) => s / (4000 * 1024 * 255));
    expect(means[0]).toBeCloseTo(0.4916, 3);
    expect(means[1]).toBeCloseTo(0.4818, 3);
    expect(means[2]).toBeCloseTo(0.4447, 3);
    // The first image of data_batch_1 starts with red values 59, 43, 50.
    expect([data.images[0], data.images[3], data.images[6]]).toEqual([59, 43, 50]);
  });
});
test.skipIf(existsSync(subset))(
  'the real CIFAR-10 subset lives in ../shared/data, beside the checkout (skipped: absent)',
  () => {},
);

describe('downloadCifar', () => {
  let server: Server;
  let base = '';
  const archives = new Map<string, Buffer>();
  beforeAll(async () => {
    const source = temporaryDir('cifar-src-');
    mkdirSync(join(source, 'cifar-10-batches-bin'));
    writeFileSync(join(source, 'cifar-10-batches-bin', 'test_batch.bin'), records(10000, 1, 10));
    await tar.c({ gzip: true, file: join(source, 'archive.tar.gz'), cwd: source }, [
      'cifar-10-batches-bin',
    ]);
    archives.set('/cifar-10-binary.tar.gz', readFileSync(join(source, 'archive.tar.gz')));
    server = createServer((request, response) => {
      const body = archives.get(request.url ?? '');
      response.writeHead(body === undefined ? 404 : 200).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('fetches, checks the md5 and extracts, so the loader reads the result', async () => {
    const dir = temporaryDir('cifar-dl-');
    const archive = {
      url: `${base}/cifar-10-binary.tar.gz`,
      md5: md5(archives.get('/cifar-10-binary.tar.gz')!),
      folder: 'cifar-10-batches-bin',
    };
    const folder = await downloadCifar('cifar10', dir, archive);
    expect(loadCifar10('test', folder).count).toBe(10000);
  });
  test('refuses an archive whose md5 differs and extracts nothing', async () => {
    const dir = temporaryDir('cifar-dl-');
    const archive = {
      url: `${base}/cifar-10-binary.tar.gz`,
      md5: '0'.repeat(32),
      folder: 'cifar-10-batches-bin',
    };
    await expect(downloadCifar('cifar10', dir, archive)).rejects.toThrow(
      /md5 [0-9a-f]{32}, expected 0{32}; nothing was extracted/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });
  test('explains a failed download', async () => {
    const dir = temporaryDir('cifar-dl-');
    const archive = { url: `${base}/missing.tar.gz`, md5: '0'.repeat(32), folder: 'x' };
    await expect(downloadCifar('cifar10', dir, archive)).rejects.toThrow(
      /download failed \(HTTP 404\)\. Download https:\/\/www\.cs\.toronto\.edu/,
    );
  });
});
