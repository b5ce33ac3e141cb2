// Connection details with copy buttons and ready-to-paste client snippets.
import * as api from '../api.js';
import { h, clear, copyRow, copyButton, badge, meter } from '../ui.js';
import { formatBytes, formatCount, formatDate, percent } from '../format.js';

export function snippets({ endpoint, region, bucket, accessKey, secretKey }) {
  const sk = secretKey || '<your secret key>';
  return [
    ['aws CLI', `export AWS_ACCESS_KEY_ID=${accessKey}
export AWS_SECRET_ACCESS_KEY=${sk}
export AWS_DEFAULT_REGION=${region}
aws --endpoint-url ${endpoint} s3 ls s3://${bucket}/
aws --endpoint-url ${endpoint} s3 cp ./photo.jpg s3://${bucket}/photo.jpg`],
    ['boto3', `import boto3
from botocore.config import Config

s3 = boto3.client(
    "s3",
    endpoint_url="${endpoint}",
    region_name="${region}",
    aws_access_key_id="${accessKey}",
    aws_secret_access_key="${sk}",
    config=Config(s3={"addressing_style": "path"}),
)
s3.upload_file("photo.jpg", "${bucket}", "photo.jpg")
for o in s3.list_objects_v2(Bucket="${bucket}").get("Contents", []):
    print(o["Key"], o["Size"])`],
    ['JavaScript', `import { S3Client, PutObjectCommand } from "@aws-sdk/client-s3";

const s3 = new S3Client({
  endpoint: "${endpoint}",
  region: "${region}",
  forcePathStyle: true,
  credentials: { accessKeyId: "${accessKey}", secretAccessKey: "${sk}" },
});
await s3.send(new PutObjectCommand({ Bucket: "${bucket}", Key: "hello.txt", Body: "hello" }));`],
    ['Rust', `// Cargo.toml: aws-config, aws-sdk-s3, tokio
use aws_sdk_s3::{config::{Credentials, Region}, primitives::ByteStream, Client};

let conf = aws_sdk_s3::Config::builder()
    .endpoint_url("${endpoint}")
    .region(Region::new("${region}"))
    .credentials_provider(Credentials::new("${accessKey}", "${sk}", None, None, "bucketgate"))
    .force_path_style(true)
    .behavior_version_latest()
    .build();
let s3 = Client::from_conf(conf);
s3.put_object().bucket("${bucket}").key("hello.txt")
    .body(ByteStream::from_static(b"hello")).send().await?;`],
    ['rclone', `# ~/.config/rclone/rclone.conf
[bucketgate]
type = s3
provider = Other
endpoint = ${endpoint}
region = ${region}
access_key_id = ${accessKey}
secret_access_key = ${sk}
force_path_style = true

# then: rclone ls bucketgate:${bucket}`],
  ];
}

export async function overviewTab({ panel, bucket, state }) {
  const cfg = state.config || {};
  const saved = JSON.parse(sessionStorage.getItem(`bucketgate.newsecret.${bucket.name}`) || 'null');
  // A secret is shown on this one visit only.
  if (saved?.secretKey) sessionStorage.setItem(`bucketgate.newsecret.${bucket.name}`, JSON.stringify({ ...saved, secretKey: undefined }));
  const auth = api.session.get();
  let accessKey = saved?.accessKey || auth?.accessKey || state.me?.accessKey;
  if (!accessKey && state.me?.admin) {
    // The admin token has no key of its own: show one of the owner's active keys.
    const keys = await api.listKeys(bucket.owner).catch(() => []);
    accessKey = keys.find((k) => !k.disabled)?.accessKey;
  }
  accessKey ||= '<your access key>';
  const endpoint = saved?.endpoint || cfg.s3Endpoint || `${location.protocol}//${location.hostname}:9000`;
  const conn = { endpoint, region: bucket.region, bucket: bucket.name, accessKey, secretKey: saved?.secretKey || auth?.secretKey };
  const snips = snippets(conn);
  let current = 0;
  const code = h('pre.snippet', h('code'));
  const tabs = h('div.segmented.snippet-tabs', { role: 'tablist', 'aria-label': 'Client' });
  const show = (i) => {
    current = i;
    code.firstChild.textContent = snips[i][1];
    for (const [j, b] of [...tabs.children].entries()) b.setAttribute('aria-selected', String(i === j));
  };
  snips.forEach(([label], i) => tabs.append(h('button.seg', { type: 'button', role: 'tab', onclick: () => show(i) }, label)));
  show(0);
  const u = bucket.usage || {};
  const pct = percent(u.bytes || 0, bucket.maxSizeBytes);
  clear(panel,
    h('div.grid2',
      h('section.card',
        h('h2', 'Connection'),
        saved?.secretKey ? h('div.callout.warn', h('strong', 'Secret key shown once. '), 'A key was created for this bucket\'s owner; copy it now, it will not be shown again.') : null,
        copyRow('Endpoint', endpoint),
        copyRow('Region', bucket.region),
        copyRow('Bucket', bucket.name),
        copyRow('Access key', accessKey),
        saved?.secretKey ? copyRow('Secret key', saved.secretKey, { secret: true }) : null,
        h('p.small.muted', 'Path-style addressing; virtual-host style works at ', h('code', `${bucket.name}.${cfg.baseDomain || 's3.localhost'}`), '.')),
      h('section.card',
        h('h2', 'At a glance'),
        h('dl.facts',
          h('dt', 'Status'), h('dd', badge(bucket.status, bucket.status === 'running' ? 'ok' : bucket.status === 'error' ? 'err' : 'muted'), bucket.statusMessage ? h('span.small.muted', ` ${bucket.statusMessage}`) : null),
          h('dt', 'Backend'), h('dd.mono', bucket.container ? `${bucket.backend} · ${bucket.container.profile}` : bucket.backend),
          h('dt', 'Objects'), h('dd', formatCount(u.objects || 0), bucket.maxObjects ? h('span.muted', ` of ${formatCount(bucket.maxObjects)}`) : null),
          h('dt', 'Size'), h('dd', formatBytes(u.bytes || 0), bucket.maxSizeBytes ? h('span.muted', ` of ${formatBytes(bucket.maxSizeBytes)}`) : null),
          bucket.maxSizeBytes ? [h('dt', 'Quota'), h('dd', meter(pct, 'Quota used'))] : null,
          h('dt', 'Access'), h('dd', bucket.publicRead ? (bucket.publicList ? 'public read and list' : 'public read') : 'private'),
          h('dt', 'Owner'), h('dd.mono', bucket.owner),
          h('dt', 'Created'), h('dd', formatDate(bucket.createdAt))))),
    h('section.card',
      h('div.card-head', h('h2', 'Use it from your code'), copyButton(() => snips[current][1], 'Copy snippet')),
      tabs, code));
}
