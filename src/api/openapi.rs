//! The OpenAPI 3.0 document of the API, served at `/api/openapi.json`. Its paths and methods
//! are checked against [`super::ROUTES`] by a test, so the two cannot drift apart.

use serde_json::{Map, Value, json};

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_body(schema: &str, required: bool) -> Value {
    json!({
        "required": required,
        "content": { "application/json": { "schema": schema_ref(schema) } }
    })
}

fn ok(status: &str, description: &str, schema: Option<&str>) -> (String, Value) {
    let mut r = json!({ "description": description });
    if let Some(s) = schema {
        r["content"] = json!({ "application/json": { "schema": schema_ref(s) } });
    }
    (status.to_owned(), r)
}

fn err(status: &str, description: &str) -> (String, Value) {
    ok(status, description, Some("Error"))
}

fn path_param(name: &str, description: &str) -> Value {
    json!({
        "name": name, "in": "path", "required": true, "description": description,
        "schema": { "type": "string", "minLength": 1 }
    })
}

fn query_param(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn bucket_param() -> Value {
    path_param("name", "Bucket name")
}

fn key_param() -> Value {
    path_param(
        "key",
        "Object key; `/` may be sent literally or as `%2F` (see the operation's description for `/metadata`)",
    )
}

struct Op {
    id: &'static str,
    summary: &'static str,
    params: Vec<Value>,
    body: Option<Value>,
    responses: Vec<(String, Value)>,
    public: bool,
}

impl Op {
    fn new(id: &'static str, summary: &'static str) -> Self {
        Self {
            id,
            summary,
            params: Vec::new(),
            body: None,
            responses: Vec::new(),
            public: false,
        }
    }
    fn params(mut self, p: Vec<Value>) -> Self {
        self.params = p;
        self
    }
    fn body(mut self, schema: &str, required: bool) -> Self {
        self.body = Some(json_body(schema, required));
        self
    }
    fn raw_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    fn resp(mut self, r: (String, Value)) -> Self {
        self.responses.push(r);
        self
    }
    fn public(mut self) -> Self {
        self.public = true;
        self
    }

    fn into_value(self) -> Value {
        let mut responses = Map::new();
        for (status, r) in self.responses {
            responses.insert(status, r);
        }
        if !self.public {
            let (s, r) = err("401", "Missing or wrong credentials");
            responses.insert(s, r);
            if !self.params.is_empty() {
                let (s, r) = err("404", "Not found (also another user's bucket or user)");
                responses.entry(s).or_insert(r);
            }
        }
        let (s, r) = err("400", "Invalid input; the message names the field");
        responses.entry(s).or_insert(r);
        let (s, r) = err("500", "Internal error");
        responses.insert(s, r);
        let mut op = json!({
            "operationId": self.id,
            "summary": self.summary,
            "responses": responses,
        });
        if !self.params.is_empty() {
            op["parameters"] = Value::Array(self.params);
        }
        if let Some(b) = self.body {
            op["requestBody"] = b;
        }
        if self.public {
            op["security"] = json!([]);
        }
        op
    }
}

/// The operations, keyed by (method, OpenAPI path).
fn operations() -> Vec<(&'static str, &'static str, Op)> {
    let b = bucket_param;
    let k = key_param;
    let user = || path_param("id", "User id");
    let access = || path_param("accessKey", "Access key id");
    let up = || {
        json!({"name": "uploadId", "in": "path", "required": true, "description": "Upload id from createUpload",
            "schema": {"type": "string", "minLength": 1, "maxLength": 512, "pattern": "^[A-Za-z0-9._~+=-]+$"}})
    };
    let key_query = || {
        json!({"name": "key", "in": "query", "required": true, "description": "Object key of the upload",
            "schema": {"type": "string", "minLength": 1, "maxLength": 1024}})
    };
    vec![
        ("get", "/", Op::new("consolePage", "Web console page (index.html; Cache-Control: no-cache, ETag)").public()
            .resp(("200".into(), json!({"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}})))
            .resp(("304".into(), json!({"description": "Not modified (If-None-Match matched the ETag)"})))),
        ("get", "/console/{path}", Op::new("consoleAsset", "A web console asset (CSS, ES module, image); ETag, gzip when accepted; with ?v= naming its current version (as the page and modules link it) Cache-Control: public, max-age=31536000, immutable, else no-cache").public()
            .params(vec![path_param("path", "Asset path under console/, e.g. js/api.js"),
                query_param("v", json!({"type": "string"}), "Content version (the page and modules name their assets with it)")])
            .resp(("200".into(), json!({"description": "The asset", "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}})))
            .resp(("304".into(), json!({"description": "Not modified (If-None-Match matched the ETag)"})))
            .resp(err("404", "NoSuchAsset (also any path leaving the folder)"))),
        ("get", "/api/openapi.json", Op::new("getOpenApi", "This document").public()
            .resp(("200".into(), json!({"description": "OpenAPI 3.0 document", "content": {"application/json": {"schema": {"type": "object"}}}})))),
        ("get", "/api/config", Op::new("getConsoleConfig", "What the console needs before sign-in: S3 endpoint, region, domains, version").public()
            .resp(ok("200", "Settings", Some("ConsoleConfig")))),
        ("get", "/api/whoami", Op::new("whoami", "Who the credentials belong to")
            .resp(ok("200", "The caller", Some("Whoami")))),
        ("post", "/api/buckets", Op::new("createBucket", "Create a bucket; returns its S3 connection details")
            .body("BucketCreate", true)
            .resp(ok("201", "Created", Some("BucketCreated")))
            .resp(err("409", "The name is taken (BucketAlreadyExists / BucketAlreadyOwnedByYou)"))),
        ("get", "/api/buckets", Op::new("listBuckets", "List the caller's buckets (all for the admin), with usage")
            .resp(ok("200", "Buckets", Some("BucketList")))),
        ("get", "/api/buckets/{name}", Op::new("getBucket", "Show a bucket").params(vec![b()])
            .resp(ok("200", "The bucket", Some("Bucket")))),
        ("patch", "/api/buckets/{name}", Op::new("updateBucket", "Update a bucket; absent fields stay, null clears").params(vec![b()])
            .body("BucketPatch", true)
            .resp(ok("200", "The updated bucket", Some("Bucket")))
            .resp(err("409", "SettingRefused: the bucket's storage server refused a changed setting (versioning, encryption); nothing was changed"))
            .resp(err("503", "The bucket's storage server cannot be reached to carry a changed setting"))),
        ("delete", "/api/buckets/{name}", Op::new("deleteBucket", "Delete an empty bucket (a container bucket's container and volume too)").params(vec![b(),
                query_param("keepVolume", json!({"type": "boolean"}), "Keep a container bucket's volume (its data)")])
            .resp(ok("204", "Deleted", None))
            .resp(err("409", "BucketNotEmpty"))
            .resp(err("503", "The bucket's container cannot be reached to check that it is empty"))),
        ("post", "/api/buckets/{name}/start", Op::new("startBucket", "Start a container bucket's container and wait for it (other buckets always run)").params(vec![b()])
            .resp(ok("200", "The bucket", Some("Bucket")))
            .resp(err("503", "The container did not become ready (or Docker is unavailable)"))),
        ("post", "/api/buckets/{name}/stop", Op::new("stopBucket", "Stop a container bucket's container; the next request starts it again (other buckets always run)").params(vec![b()])
            .resp(ok("200", "The bucket", Some("Bucket")))),
        ("get", "/api/buckets/{name}/stats", Op::new("getBucketStats", "Usage and limits").params(vec![b()])
            .resp(ok("200", "Stats", Some("BucketStats")))),
        ("get", "/api/buckets/{name}/stats/history", Op::new("getBucketStatsHistory",
                "Usage and request counters over time: every sample (default each minute) for the last hour or day, hourly points for 7 or 90 days; counters are per interval")
            .params(vec![b(), query_param("range", json!({"type": "string", "enum": ["1h", "24h", "7d", "90d"], "default": "24h"}), "Window")])
            .resp(ok("200", "Points, oldest first", Some("StatsHistory")))),
        ("post", "/api/buckets/{name}/sync", Op::new("syncBucket", "Recompute usage from what the backend stores").params(vec![b()])
            .resp(ok("200", "Recomputed stats", Some("BucketStats")))),
        ("get", "/api/buckets/{name}/objects", Op::new("listObjects", "List objects (ListObjectsV2)").params(vec![
                b(),
                query_param("prefix", json!({"type": "string"}), "Only keys starting with this"),
                query_param("delimiter", json!({"type": "string"}), "Group keys up to this into commonPrefixes"),
                query_param("continuationToken", json!({"type": "string"}), "nextContinuationToken of the previous page"),
                query_param("maxKeys", json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 1000}), "Page size"),
            ])
            .resp(ok("200", "A page of objects", Some("ObjectList")))),
        ("post", "/api/buckets/{name}/objects", Op::new("uploadObjects",
                "Upload files (multipart/form-data, streamed). A `key` field names the file part that follows it; otherwise the file name is the key.")
            .params(vec![b()])
            .raw_body(json!({"required": true, "content": {"multipart/form-data": {"schema": {
                "type": "object",
                "properties": {"key": {"type": "string"}, "file": {"type": "string", "format": "binary"}},
                "required": ["file"]
            }}}}))
            .resp(ok("201", "Stored", Some("UploadResult")))
            .resp(err("403", "QuotaExceeded: the upload crossed the bucket's quota; nothing was stored"))),
        ("get", "/api/buckets/{name}/objects/{key}", Op::new("getObject",
                "Download an object (streamed). With the `metadata` query parameter, or a trailing `/metadata` path segment written with a literal `/`, the object's metadata as JSON instead; download a key ending in `/metadata` by sending that last `/` as `%2F`.")
            .params(vec![b(), k(), query_param("metadata", json!({"type": "string"}), "Present: answer the metadata (JSON) instead of the bytes")])
            .resp(("200".into(), json!({"description": "The object's bytes (with Content-Type, Content-Length, ETag, Last-Modified), or its metadata",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": schema_ref("ObjectMetadata")}
                }})))),
        ("delete", "/api/buckets/{name}/objects/{key}", Op::new("deleteObject", "Delete an object").params(vec![b(), k()])
            .resp(ok("204", "Deleted", None))),
        ("post", "/api/buckets/{name}/presigned-upload", Op::new("presignUpload", "A presigned S3 PUT URL for one key").params(vec![b()])
            .body("PresignRequest", true)
            .resp(ok("200", "The URL", Some("PresignedUrl")))),
        ("post", "/api/buckets/{name}/presigned-download", Op::new("presignDownload", "A presigned S3 GET URL for one key").params(vec![b()])
            .body("PresignRequest", true)
            .resp(ok("200", "The URL", Some("PresignedUrl")))),
        ("post", "/api/buckets/{name}/uploads", Op::new("createUpload", "Start a multipart upload (CreateMultipartUpload); refused with QuotaExceeded when the bucket has no room left").params(vec![b()])
            .body("UploadCreate", true)
            .resp(ok("201", "Started", Some("UploadCreated")))
            .resp(err("403", "QuotaExceeded"))),
        ("post", "/api/buckets/{name}/uploads/{uploadId}/parts", Op::new("presignUploadParts", "Presigned S3 UploadPart URLs (PUT the part's bytes to each; the answer's ETag header is needed to complete)").params(vec![b(), up()])
            .body("PartsPresign", true)
            .resp(ok("200", "One URL per part number", Some("PartUrls")))),
        ("get", "/api/buckets/{name}/uploads/{uploadId}/parts", Op::new("listUploadParts", "The parts uploaded so far (ListParts, all pages)").params(vec![b(), up(), key_query()])
            .resp(ok("200", "Parts", Some("PartList")))),
        ("post", "/api/buckets/{name}/uploads/{uploadId}/complete", Op::new("completeUpload", "Assemble the object from its parts (CompleteMultipartUpload)").params(vec![b(), up()])
            .body("UploadComplete", true)
            .resp(ok("200", "The object", Some("UploadCompleted")))
            .resp(err("403", "QuotaExceeded"))),
        ("delete", "/api/buckets/{name}/uploads/{uploadId}", Op::new("abortUpload", "Abort a multipart upload and drop its parts").params(vec![b(), up(), key_query()])
            .resp(ok("204", "Aborted", None))),
        ("post", "/api/buckets/{name}/domain", Op::new("linkDomain", "Link a host name to the bucket (served as a website); with [domains] verify it routes once its ownership is proven, with [acme] it gets a certificate").params(vec![b()])
            .body("DomainLink", true)
            .resp(ok("200", "The bucket", Some("Bucket")))
            .resp(err("409", "DomainInUse: linked to another bucket"))
            .resp(err("400", "InvalidDomain (not a DNS host name; non-ASCII names in punycode), ReservedDomain (localhost, IP literals, the gateway's own hosts, reserved_hosts)"))),
        ("delete", "/api/buckets/{name}/domain", Op::new("unlinkDomain", "Unlink one host name, or all without a body").params(vec![b()])
            .body("DomainUnlink", false)
            .resp(ok("200", "The bucket", Some("Bucket")))),
        ("get", "/api/buckets/{name}/domain/check", Op::new("checkDomain", "Whether a host linked to the bucket currently answers from this gateway: the host is resolved and asked over HTTP (on [domains] http_port and the S3 listener's port, no redirects, 3 s per port) for a token only this gateway process serves").params(vec![b(),
                query_param("host", json!({"type": "string"}), "A host name linked to this bucket")])
            .resp(ok("200", "The check", Some("DomainCheck")))
            .resp(err("404", "NoSuchDomain: the host is not linked to this bucket"))
            .resp(err("400", "InvalidArgument (host missing), InvalidDomain (non-ASCII: use punycode), ReservedDomain (a link whose name became reserved: it never routes)"))),
        ("post", "/api/users", Op::new("createUser", "Create a user (admin)").body("UserCreate", true)
            .resp(ok("201", "Created", Some("User")))
            .resp(err("403", "Not the admin"))
            .resp(err("409", "UserAlreadyExists"))),
        ("get", "/api/users", Op::new("listUsers", "List users (admin)")
            .resp(ok("200", "Users", Some("UserList")))
            .resp(err("403", "Not the admin"))),
        ("get", "/api/users/{id}", Op::new("getUser", "Show a user (the admin, or the user themselves)").params(vec![user()])
            .resp(ok("200", "The user", Some("User")))),
        ("delete", "/api/users/{id}", Op::new("deleteUser", "Delete a user and their keys (admin; refused while they own buckets)").params(vec![user()])
            .resp(ok("204", "Deleted", None))
            .resp(err("403", "Not the admin"))
            .resp(err("409", "UserOwnsBuckets"))),
        ("post", "/api/users/{id}/keys", Op::new("createKey", "Create an access key; the secret is shown this once").params(vec![user()])
            .resp(ok("201", "Created", Some("NewAccessKey")))),
        ("get", "/api/users/{id}/keys", Op::new("listKeys", "List a user's access keys").params(vec![user()])
            .resp(ok("200", "Keys", Some("AccessKeyList")))),
        ("patch", "/api/users/{id}/keys/{accessKey}", Op::new("updateKey", "Enable or disable an access key").params(vec![user(), access()])
            .body("KeyPatch", true)
            .resp(ok("200", "The key", Some("AccessKey")))),
        ("delete", "/api/users/{id}/keys/{accessKey}", Op::new("deleteKey", "Delete an access key").params(vec![user(), access()])
            .resp(ok("204", "Deleted", None))),
    ]
}

fn schemas() -> Value {
    let s = |t: &str| json!({"type": t});
    let ns = |t: &str| json!({"type": t, "nullable": true});
    let bucket_name = json!({"type": "string", "minLength": 3, "maxLength": 63,
        "pattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        "description": "S3 DNS-compatible name, unique per gateway"});
    let domain_status = json!({"type": "array", "description": "Each linked domain: whether it routes (a reserved name or a domain whose ownership is not proven does not), its ownership proof and its ACME certificate",
        "items": {"type": "object", "required": ["domain", "active", "status"], "properties": {
            "domain": s("string"), "active": s("boolean"),
            "status": {"type": "string", "enum": ["pending", "verified", "active", "reserved"],
                "description": "pending: ownership not proven (does not route); verified: routes, certificate not issued yet; active: routes (with its certificate when ACME is enabled); reserved: never routes"},
            "error": {"type": "string", "enum": ["ReservedDomain", "OwnershipNotProven", "CertificateNotIssued"]},
            "message": s("string"),
            "verification": {"type": "object", "required": ["method", "record", "token", "verified"], "properties": {
                "method": {"type": "string", "enum": ["dns", "http"]},
                "record": {"type": "string", "description": "dns: the TXT record to publish (_bucketgate-challenge.<domain>) with the token as its value; http: the URL that must answer the token"},
                "token": s("string"), "verified": s("boolean"), "verifiedAt": s("string")}},
            "certificate": {"type": "object", "required": ["state", "failures", "ordering"], "properties": {
                "state": {"type": "string", "enum": ["pending", "valid", "failed"]},
                "reason": {"type": "string", "description": "why the last order failed, or what the certificate waits for"},
                "notAfter": {"type": "integer", "description": "expiry of the served certificate, Unix seconds"},
                "serial": {"type": "string", "description": "serial number of the served certificate, hex"},
                "renewAt": {"type": "integer", "description": "Unix seconds"},
                "retryAt": {"type": "integer", "description": "next attempt after a failure, Unix seconds"},
                "failures": {"type": "integer", "description": "orders failed in a row"},
                "ordering": s("boolean")}}}}});
    // Free text: no control characters (C0, DEL, C1).
    let text_pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";
    let text = json!({"type": "string", "pattern": text_pattern});
    let ntext = json!({"type": "string", "pattern": text_pattern, "nullable": true});
    let id = json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9_.@-]+$"});
    let nid = json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9_.@-]+$", "nullable": true});
    let grant = json!({"type": "object", "additionalProperties": false, "required": ["accessKey", "level"],
        "properties": {"accessKey": s("string"), "level": {"type": "string", "enum": ["read", "read-write"]}}});
    let stats = json!({"type": "object", "required": ["bucket", "status", "objects", "bytes", "pendingBytes"], "properties": {
        "bucket": s("string"), "status": s("string"), "objects": s("integer"), "bytes": s("integer"),
        "pendingBytes": s("integer"), "maxSizeBytes": ns("integer"), "maxObjects": ns("integer"),
        "sizeUsedPercent": ns("number"), "objectsUsedPercent": ns("number"),
        "requests": s("integer"), "errors": s("integer"), "bytesIn": s("integer"), "bytesOut": s("integer")}});
    let website = json!({"type": "object", "additionalProperties": false, "required": ["indexDocument"],
        "description": "Static website documents served on the bucket's website host",
        "properties": {
            "indexDocument": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": "^[^/\\u0000-\\u001F\\u007F-\\u009F]*$",
                "description": "Key suffix served for a directory (no '/')"},
            "errorDocument": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": text_pattern, "nullable": true}}});
    let cors_rule = json!({"type": "object", "additionalProperties": false, "required": ["allowedOrigins", "allowedMethods"],
        "properties": {
            "allowedOrigins": {"type": "array", "minItems": 1, "items": {"type": "string",
                "description": "* or scheme://host[:port], with at most one *"}},
            "allowedMethods": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": ["GET", "PUT", "POST", "DELETE", "HEAD"]}},
            "allowedHeaders": {"type": "array", "items": s("string")},
            "exposeHeaders": {"type": "array", "items": s("string")},
            "maxAgeSeconds": {"type": "integer", "minimum": 0, "maximum": 86400, "nullable": true}}});
    let website_n = {
        let mut w = website.clone();
        w["nullable"] = json!(true);
        w
    };
    let cors_n = json!({"type": "array", "minItems": 1, "maxItems": 100, "nullable": true, "items": schema_ref("CorsRule")});
    let domain_check = json!({"type": "object", "required": ["host", "answers", "addresses", "checks"], "properties": {
            "host": s("string"),
            "answers": {"type": "boolean", "description": "Some port answered with this gateway's token"},
            "addresses": {"type": "array", "items": s("string"), "description": "What the host resolves to (the first is asked)"},
            "message": {"type": "string", "description": "Why nothing was asked (the host does not resolve)"},
            "checks": {"type": "array", "items": {"type": "object", "required": ["port", "url", "answers"], "properties": {
                "port": s("integer"), "url": {"type": "string", "description": "The URL asked (its token elided)"},
                "answers": s("boolean"), "status": {"type": "integer", "description": "HTTP status of the answer"},
                "message": {"type": "string", "description": "Why it is not this gateway's answer"}}}}}});
    let mut v = json!({
        "Website": website,
        "CorsRule": cors_rule,
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": s("string"), "message": s("string"),
                "field": {"type": "string", "description": "The request field the error is about"}}}}},
        "BucketCreate": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": {
            "name": bucket_name, "owner": {"type": "string", "description": "Owner user id (admin only)"},
            "team": id, "workspace": id, "description": text.clone(),
            "backend": {"type": "string", "enum": ["embedded", "container", "remote"]},
            "profile": {"type": "string", "description": "Backend profile of a container bucket (minio, rustfs, s3s-fs-test or a configured one)"},
            "region": s("string"),
            "maxSizeBytes": {"type": "integer", "minimum": 0}, "maxObjects": {"type": "integer", "minimum": 0},
            "publicRead": s("boolean"), "publicList": s("boolean"), "versioning": s("boolean"),
            "encryption": text}},
        "BucketPatch": {"type": "object", "additionalProperties": false, "properties": {
            "description": ntext.clone(), "maxSizeBytes": {"type": "integer", "minimum": 0, "nullable": true},
            "maxObjects": {"type": "integer", "minimum": 0, "nullable": true},
            "publicRead": s("boolean"), "publicList": s("boolean"), "versioning": s("boolean"),
            "encryption": ntext, "region": s("string"), "team": nid.clone(), "workspace": nid,
            "grants": {"type": "array", "items": schema_ref("Grant")},
            "website": website_n.clone(), "cors": cors_n.clone()}},
        "Grant": grant,
        "Usage": {"type": "object", "required": ["objects", "bytes", "pendingBytes"], "properties": {
            "objects": s("integer"), "bytes": s("integer"), "pendingBytes": s("integer")}},
        "Bucket": {"type": "object", "required": ["name", "id", "owner", "backend", "region", "status", "createdAt"], "properties": {
            "name": s("string"), "id": s("string"), "owner": s("string"), "team": ns("string"),
            "workspace": ns("string"), "description": ns("string"), "backend": s("string"),
            "region": s("string"), "status": {"type": "string", "enum": ["creating", "running", "stopped", "error"]},
            "statusMessage": {"type": "string", "description": "Why the bucket is in error, or a warning about settings its backend refused"},
            "container": schema_ref("ContainerInfo"),
            "createdAt": {"type": "string", "format": "date-time"}, "updatedAt": {"type": "string", "format": "date-time"},
            "maxSizeBytes": ns("integer"), "maxObjects": ns("integer"), "publicRead": s("boolean"),
            "publicList": s("boolean"), "versioning": ns("string"), "encryption": ns("string"),
            "domains": {"type": "array", "items": s("string")},
            "domainStatus": domain_status,
            "grants": {"type": "array", "items": schema_ref("Grant")}, "usage": schema_ref("Usage"),
            "website": website_n, "cors": cors_n}},
        "ContainerInfo": {"type": "object", "required": ["profile", "image", "name", "volume", "s3Address"], "properties": {
            "profile": s("string"), "image": s("string"), "name": s("string"), "volume": s("string"),
            "s3Address": s("string"), "consoleAddress": ns("string")}},
        "BucketList": {"type": "object", "required": ["buckets"], "properties": {
            "buckets": {"type": "array", "items": schema_ref("Bucket")}}},
        "Connection": {"type": "object", "required": ["endpoint", "region", "bucket", "accessKey", "pathStyle"], "properties": {
            "endpoint": s("string"), "region": s("string"), "bucket": s("string"), "accessKey": s("string"),
            "secretKey": {"type": "string", "description": "Only when this request created the key"},
            "pathStyle": s("boolean")}},
        "BucketCreated": {"type": "object", "required": ["bucket", "connection"], "properties": {
            "bucket": schema_ref("Bucket"), "connection": schema_ref("Connection")}},
        "BucketStats": stats,
        "ObjectEntry": {"type": "object", "required": ["key", "size"], "properties": {
            "key": s("string"), "size": s("integer"), "etag": ns("string"),
            "lastModified": {"type": "string", "format": "date-time", "nullable": true}, "storageClass": ns("string")}},
        "ObjectList": {"type": "object", "required": ["bucket", "objects", "commonPrefixes", "isTruncated"], "properties": {
            "bucket": s("string"), "prefix": s("string"), "delimiter": ns("string"),
            "objects": {"type": "array", "items": schema_ref("ObjectEntry")},
            "commonPrefixes": {"type": "array", "items": s("string")}, "isTruncated": s("boolean"),
            "nextContinuationToken": ns("string"), "keyCount": s("integer")}},
        "UploadResult": {"type": "object", "required": ["bucket", "objects"], "properties": {
            "bucket": s("string"), "objects": {"type": "array", "items": {"type": "object", "properties": {
                "key": s("string"), "size": s("integer"), "etag": ns("string")}}}}},
        "ObjectMetadata": {"type": "object", "required": ["bucket", "key", "size"], "properties": {
            "bucket": s("string"), "key": s("string"), "size": s("integer"), "etag": ns("string"),
            "contentType": ns("string"), "contentEncoding": ns("string"), "contentDisposition": ns("string"),
            "cacheControl": ns("string"), "lastModified": {"type": "string", "format": "date-time", "nullable": true},
            "storageClass": ns("string"), "versionId": ns("string"),
            "metadata": {"type": "object", "additionalProperties": s("string")},
            "tags": {"type": "object", "nullable": true, "additionalProperties": s("string"),
                "description": "Object tags; null where the bucket's backend client does not list them"}}},
        "PresignRequest": {"type": "object", "additionalProperties": false, "required": ["key"], "properties": {
            "key": {"type": "string", "minLength": 1, "maxLength": 1024},
            "expiresIn": {"type": "integer", "minimum": 1, "maximum": 604_800, "default": 3600,
                "description": "Validity in seconds (at most 7 days)"},
            "disposition": {"type": "string", "enum": ["attachment", "inline"],
                "description": "Downloads only: answered as Content-Disposition (response-content-disposition)"},
            "filename": {"type": "string", "minLength": 1, "maxLength": 255,
                "description": "Downloads only: the saved file name (default: the key's last segment); no control characters"}}},
        "PresignedUrl": {"type": "object", "required": ["url", "method", "expiresAt"], "properties": {
            "url": s("string"), "method": {"type": "string", "enum": ["GET", "PUT"]},
            "expiresAt": {"type": "string", "format": "date-time"}}},
        "DomainLink": {"type": "object", "additionalProperties": false, "required": ["domain"], "properties": {
            "domain": {"type": "string", "maxLength": 253, "pattern": "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$",
                "description": "Host name such as assets.example.com (at least two labels; not localhost, an IP, or one of the gateway's own hosts)"}}},
        "DomainUnlink": {"type": "object", "additionalProperties": false, "properties": {
            "domain": {"type": "string", "description": "Host name to unlink; absent: all"}}},
        "DomainCheck": domain_check,
        "UserCreate": {"type": "object", "additionalProperties": false, "required": ["id"], "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[a-z0-9][a-z0-9._@-]{0,63}$"},
            "name": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": text_pattern}, "team": id}},
        "User": {"type": "object", "required": ["id", "name", "createdAt"], "properties": {
            "id": s("string"), "name": s("string"), "team": ns("string"),
            "createdAt": {"type": "string", "format": "date-time"}}},
        "UserList": {"type": "object", "required": ["users"], "properties": {
            "users": {"type": "array", "items": schema_ref("User")}}},
        "AccessKey": {"type": "object", "required": ["accessKey", "userId", "createdAt", "disabled"], "properties": {
            "accessKey": s("string"), "userId": s("string"),
            "createdAt": {"type": "string", "format": "date-time"}, "disabled": s("boolean")}},
        "AccessKeyList": {"type": "object", "required": ["keys"], "properties": {
            "keys": {"type": "array", "items": schema_ref("AccessKey")}}},
        "NewAccessKey": {"type": "object", "required": ["accessKey", "secretKey", "userId"], "properties": {
            "accessKey": s("string"), "secretKey": s("string"), "userId": s("string")}},
        "KeyPatch": {"type": "object", "additionalProperties": false, "required": ["disabled"], "properties": {
            "disabled": s("boolean")}},
    });
    if let (Some(all), Value::Object(more)) = (v.as_object_mut(), console_schemas()) {
        all.extend(more);
    }
    v
}

/// Schemas of the console's routes (a second `json!`: one would hit the macro recursion limit).
fn console_schemas() -> Value {
    let s = |t: &str| json!({"type": t});
    let ns = |t: &str| json!({"type": t, "nullable": true});
    json!({
        "UploadCreate": {"type": "object", "additionalProperties": false, "required": ["key"], "properties": {
            "key": {"type": "string", "minLength": 1, "maxLength": 1024},
            "contentType": {"type": "string", "maxLength": 256}}},
        "UploadCreated": {"type": "object", "required": ["uploadId", "key"], "properties": {
            "uploadId": s("string"), "key": s("string")}},
        "PartsPresign": {"type": "object", "additionalProperties": false, "required": ["key", "partNumbers"], "properties": {
            "key": {"type": "string", "minLength": 1, "maxLength": 1024},
            "partNumbers": {"type": "array", "minItems": 1, "maxItems": 1000,
                "items": {"type": "integer", "minimum": 1, "maximum": 10_000}},
            "expiresIn": {"type": "integer", "minimum": 1, "maximum": 604_800, "default": 3600}}},
        "PartUrls": {"type": "object", "required": ["parts", "expiresAt"], "properties": {
            "parts": {"type": "array", "items": {"type": "object", "required": ["partNumber", "url"], "properties": {
                "partNumber": s("integer"), "url": s("string")}}},
            "expiresAt": {"type": "string", "format": "date-time"}}},
        "PartList": {"type": "object", "required": ["parts"], "properties": {
            "parts": {"type": "array", "items": {"type": "object", "properties": {
                "partNumber": s("integer"), "etag": ns("string"), "size": ns("integer")}}}}},
        "UploadComplete": {"type": "object", "additionalProperties": false, "required": ["key", "parts"], "properties": {
            "key": {"type": "string", "minLength": 1, "maxLength": 1024},
            "parts": {"type": "array", "minItems": 1, "maxItems": 10_000, "items": {"type": "object",
                "additionalProperties": false, "required": ["partNumber", "etag"], "properties": {
                    "partNumber": {"type": "integer", "minimum": 1, "maximum": 10_000},
                    "etag": {"type": "string", "minLength": 1, "maxLength": 258}}}}}},
        "UploadCompleted": {"type": "object", "required": ["key", "etag", "versionId"], "properties": {
            "key": s("string"), "etag": ns("string"), "versionId": ns("string")}},
        "StatsHistory": {"type": "object", "required": ["range", "points"], "properties": {
            "range": s("string"),
            "points": {"type": "array", "items": {"type": "object",
                "required": ["t", "objects", "bytes", "requests", "errors", "bytesIn", "bytesOut"], "properties": {
                    "t": {"type": "string", "format": "date-time"}, "objects": s("integer"), "bytes": s("integer"),
                    "requests": s("integer"), "errors": s("integer"), "bytesIn": s("integer"), "bytesOut": s("integer")}}}}},
        "ConsoleConfig": {"type": "object", "required": ["s3Endpoint", "region", "baseDomain", "websiteBaseDomain", "version"], "properties": {
            "s3Endpoint": s("string"), "region": s("string"), "baseDomain": s("string"),
            "websiteBaseDomain": s("string"), "version": s("string")}},
        "Whoami": {"type": "object", "required": ["admin", "user", "accessKey"], "properties": {
            "admin": s("boolean"), "user": ns("string"), "accessKey": ns("string")}},
    })
}

/// The route of [`super::ROUTES`] in OpenAPI form: `{*key}` becomes `{key}`.
pub fn openapi_path(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

/// Builds the document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (method, path, op) in operations() {
        let entry = paths
            .entry(path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[method] = op.into_value();
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "bucketgate control-plane API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Buckets, objects, presigned URLs, domains, users and access keys of a bucketgate gateway. \
                Errors are `{\"error\": {\"code\", \"message\"}}`. Authenticate with `Authorization: Bearer <admin token>` \
                or `Authorization: Bearer <accessKey>:<secretKey>` of a user's enabled key (that user sees only their own buckets and keys)."
        },
        "servers": [{"url": "/"}],
        "security": [{"adminToken": []}, {"accessKey": []}],
        "components": {
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer", "description": "The admin token"},
                "accessKey": {"type": "http", "scheme": "bearer", "bearerFormat": "<accessKey>:<secretKey>",
                    "description": "A user's access key pair; the root key pair acts as the admin"}
            },
            "schemas": schemas(),
        },
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn document_paths_equal_registered_routes() {
        let doc = document();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
        let registered: BTreeSet<(String, String)> = super::super::ROUTES
            .iter()
            .map(|(m, p)| (m.to_uppercase(), openapi_path(p)))
            .collect();
        assert_eq!(documented, registered);
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "dangling $ref {name}");
        }
    }
}
