// Fixtures of the browser tests that hold no state: small valid media files made here (no
// binary test data in the repository), a DNS server for the gateway's resolver, and whether a
// Docker engine with the test image is at hand.
import { createSocket } from 'node:dgram';
import { execFileSync } from 'node:child_process';

/** A one-page PDF saying "bucketgate", with a correct cross-reference table. */
export function tinyPdf() {
  const text = 'BT /F1 18 Tf 20 40 Td (bucketgate) Tj ET';
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${text.length} >>\nstream\n${text}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets = objects.map((body, i) => {
    const at = out.length;
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
    return at;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  out += offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** A mono 16-bit PCM WAV of a 440 Hz tone, `seconds` long at 8 kHz. */
export function toneWav(seconds = 0.5, rate = 8000) {
  const samples = Math.round(seconds * rate);
  const buf = Buffer.alloc(44 + samples * 2);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + samples * 2, 4);
  buf.write('WAVEfmt ', 8, 'ascii');
  buf.writeUInt32LE(16, 16); // fmt chunk size
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28); // byte rate
  buf.writeUInt16LE(2, 32); // block align
  buf.writeUInt16LE(16, 34); // bits per sample
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) buf.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 12000), 44 + i * 2);
  return buf;
}

/**
 * A short WebM (VP8) of a `width`×`height` canvas, recorded by the page's MediaRecorder (a
 * browser is the one WebM encoder at hand); resolves its bytes.
 */
export async function recordWebm(page, width = 64, height = 48) {
  const b64 = await page.evaluate(async ([w, hgt]) => {
    const canvas = Object.assign(document.createElement('canvas'), { width: w, height: hgt });
    const g = canvas.getContext('2d');
    const rec = new MediaRecorder(canvas.captureStream(25), { mimeType: 'video/webm;codecs=vp8' });
    const chunks = [];
    rec.ondataavailable = (e) => chunks.push(e.data);
    const stopped = new Promise((r) => { rec.onstop = r; });
    rec.start();
    // Frames drawn on animation frames until a dozen are recorded: the content, not a wait.
    for (let f = 0; f < 12; f++) {
      g.fillStyle = `hsl(${(f * 30) % 360} 80% 50%)`;
      g.fillRect(0, 0, w, hgt);
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 40)));
    }
    rec.stop();
    await stopped;
    const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
    let s = '';
    for (const x of bytes) s += String.fromCharCode(x);
    return btoa(s);
  }, [width, height]);
  return Buffer.from(b64, 'base64');
}

/**
 * A DNS server on 127.0.0.1 for the gateway's `[domains] resolver`: A queries for a name of
 * `names` (name → [a, b, c, d]) get its address, other names NXDOMAIN, AAAA queries no record.
 */
export function dnsServer(names) {
  const sock = createSocket('udp4');
  sock.on('message', (q, peer) => {
    let at = 12;
    const labels = [];
    while (at < q.length && q[at] !== 0) { labels.push(q.subarray(at + 1, at + 1 + q[at]).toString().toLowerCase()); at += 1 + q[at]; }
    if (at + 5 > q.length) return;
    const qtype = q.readUInt16BE(at + 1);
    const ip = names[labels.join('.')];
    const a = ip && qtype === 1;
    // RFC 1035 §4.1: the query's id, QR + its opcode and RD + AA, RA, NOERROR or NXDOMAIN.
    const head = Buffer.from([q[0], q[1], 0x84 | (q[2] & 0x79), 0x80 | (ip ? 0 : 3), 0, 1, 0, a ? 1 : 0, 0, 0, 0, 0]);
    const answer = a ? Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, ...ip]) : Buffer.alloc(0);
    sock.send(Buffer.concat([head, q.subarray(12, at + 5), answer]), peer.port, peer.address);
  });
  return new Promise((res) => sock.bind(0, '127.0.0.1', () => res(sock)));
}

export const TEST_IMAGE = 'bucketgate-test/s3s-fs:0.14.1';

/**
 * Whether container buckets can be tested: the Docker engine answers and the test image is
 * there (built by tests/docker/build-test-image.sh). Without an engine this throws, unless
 * BUCKETGATE_SKIP_DOCKER_TESTS=1 asks to skip knowingly (as the Rust container tests do).
 */
export function dockerReady(repo) {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe' });
  } catch (e) {
    if (process.env.BUCKETGATE_SKIP_DOCKER_TESTS === '1') return false;
    throw new Error(`no Docker engine (${e.message.split('\n')[0]}): start dockerd, or set BUCKETGATE_SKIP_DOCKER_TESTS=1 to skip the container bucket test knowingly`);
  }
  execFileSync('bash', [`${repo}/tests/docker/build-test-image.sh`], { stdio: 'inherit' });
  return true;
}

/** `docker inspect` of one container (null when it does not exist). */
export function inspectContainer(name) {
  try { return JSON.parse(execFileSync('docker', ['inspect', name], { stdio: 'pipe' }).toString())[0]; } catch { return null; }
}

/** Removes every container and volume of gateway instance `instance`, whatever is left. */
export function removeInstance(instance) {
  const filter = `label=io.bucketgate.instance=${instance}`;
  const ids = (args) => { try { return execFileSync('docker', args, { stdio: 'pipe' }).toString().split(/\s+/).filter(Boolean); } catch { return []; } };
  const containers = ids(['ps', '-aq', '--filter', filter]);
  if (containers.length) ids(['rm', '-f', ...containers]);
  const volumes = ids(['volume', 'ls', '-q', '--filter', filter]);
  if (volumes.length) ids(['volume', 'rm', '-f', ...volumes]);
}
