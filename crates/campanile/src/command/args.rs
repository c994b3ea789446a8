//! The command-line arguments of the task binaries, as clap structs. They live in the
//! library because the plan holds them: a plan's step carries the very struct its
//! binary parses ([`super::TaskCommand`]), and one function renders it back to a
//! command line, so a flag is spelled once, here.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};

use crate::governor::RequestBudget;
use crate::s3::ClientOptions;
use crate::select::{KeyMap, KeyRegex, Rule, Timestamp, parse_size};

use crate::tuning::Tuning;

/// Objects multipartlist handles at once (see [`Tuning::multipartlist_concurrency`]).
const MULTIPARTLIST_CONCURRENCY: usize = Tuning::DEFAULT.multipartlist_concurrency;

/// Objects objectindex HEADs at once: like multipartlist, one small request per
/// object, mostly waiting on the network.
pub const OBJECTINDEX_CONCURRENCY: usize = Tuning::DEFAULT.multipartlist_concurrency;

/// How hard the S3 client tries: read timeout and attempts per request. Also read from
/// the environment, so a whole local run (every task it starts) can be tuned at once.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Persistence {
    /// Seconds without a byte from S3 before a request is abandoned and retried.
    #[arg(long, env = "CAMPANILE_S3_READ_TIMEOUT", default_value_t = Persistence::default().read_timeout,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub read_timeout: u64,
    /// Attempts per S3 request (the SDK's standard retries, with backoff).
    #[arg(long, env = "CAMPANILE_S3_MAX_ATTEMPTS", default_value_t = Persistence::default().max_attempts,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,
    /// GET and HEAD requests per second per key prefix this process sends at most
    /// (S3 serves 5,500 per partitioned prefix; a run gives each task its share).
    /// Halved on each 503 SlowDown, then raised again gradually.
    #[arg(long, env = "CAMPANILE_PREFIX_READS_PER_SECOND", default_value_t = RequestBudget::S3.reads,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub prefix_reads_per_second: u32,
    /// PUT, POST and DELETE requests per second per key prefix (S3: 3,500).
    #[arg(long, env = "CAMPANILE_PREFIX_WRITES_PER_SECOND", default_value_t = RequestBudget::S3.writes,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub prefix_writes_per_second: u32,
}

impl Default for Persistence {
    fn default() -> Self {
        let client = ClientOptions::default();
        Persistence {
            read_timeout: client.read_timeout.as_secs(),
            max_attempts: client.max_attempts,
            prefix_reads_per_second: client.budget.reads,
            prefix_writes_per_second: client.budget.writes,
        }
    }
}

impl Persistence {
    /// `options` with this read timeout, these attempts and this request budget.
    pub fn apply(&self, options: ClientOptions) -> ClientOptions {
        ClientOptions {
            read_timeout: Duration::from_secs(self.read_timeout),
            max_attempts: self.max_attempts,
            budget: self.budget(),
            ..options
        }
    }

    /// The request budget per key prefix.
    pub fn budget(&self) -> RequestBudget {
        RequestBudget {
            reads: self.prefix_reads_per_second,
            writes: self.prefix_writes_per_second,
        }
    }

    /// These settings with `budget` per key prefix.
    pub fn with_budget(self, budget: RequestBudget) -> Persistence {
        Persistence {
            prefix_reads_per_second: budget.reads,
            prefix_writes_per_second: budget.writes,
            ..self
        }
    }

    fn render(&self, argv: &mut Vec<String>) {
        let default = Persistence::default();
        if self.read_timeout != default.read_timeout {
            push(argv, "--read-timeout", self.read_timeout);
        }
        if self.max_attempts != default.max_attempts {
            push(argv, "--max-attempts", self.max_attempts);
        }
        if self.prefix_reads_per_second != default.prefix_reads_per_second {
            push(
                argv,
                "--prefix-reads-per-second",
                self.prefix_reads_per_second,
            );
        }
        if self.prefix_writes_per_second != default.prefix_writes_per_second {
            push(
                argv,
                "--prefix-writes-per-second",
                self.prefix_writes_per_second,
            );
        }
    }
}

/// What a process says on stderr and which credentials file it reads: `-v`/`-vv`,
/// `-q` ([`crate::logging`]) and `--boto FILE` ([`crate::credentials`]). Every task
/// takes them; a plan never sets them (a local run passes the verbosity and the file
/// to its tasks through their environment, [`crate::logging::child_env`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct Diagnostics {
    /// More on stderr: -v info events, -vv debug events (RUST_LOG, when set, decides
    /// instead). Reporter lines are written whatever the level.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Errors only on stderr.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// A boto-style credentials file whose [profile NAME] sections are read before the
    /// AWS files (also BOTO_CONFIG). Without it a .boto is read only inside a Hadoop
    /// task (./.boto, ~/.boto, /etc/boto.cfg).
    #[arg(long, value_name = "FILE")]
    pub boto: Option<PathBuf>,
}

impl Diagnostics {
    /// The verbosity these flags give.
    pub fn verbosity(&self) -> crate::logging::Verbosity {
        crate::logging::Verbosity {
            verbose: self.verbose,
            quiet: self.quiet,
        }
    }

    fn render(&self, argv: &mut Vec<String>) {
        for _ in 0..self.verbose {
            argv.push("-v".into());
        }
        push_flag(argv, "--quiet", self.quiet);
        push_path(argv, "--boto", &self.boto);
    }
}

/// Endpoint, profile and region of one S3 side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct S3Side {
    /// S3 host (`s3-us-west-2.amazonaws.com`) or URL (`http://127.0.0.1:3900`).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Profile of the AWS config files (with its region), or of the --boto file (in
    /// a Hadoop task also ./.boto, ~/.boto, /etc/boto.cfg).
    #[arg(long)]
    pub profile: Option<String>,
    /// Region (default: from the endpoint host, the environment, or us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub persistence: Persistence,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub diagnostics: Diagnostics,
}

impl S3Side {
    /// Client options for this side.
    pub fn client_options(&self) -> ClientOptions {
        self.persistence.apply(ClientOptions {
            endpoint: self.endpoint.clone(),
            profile: self.profile.clone(),
            region: self.region.clone(),
            ..Default::default()
        })
    }

    fn render(&self, argv: &mut Vec<String>) {
        push_some(argv, "--endpoint", &self.endpoint);
        push_some(argv, "--profile", &self.profile);
        push_some(argv, "--region", &self.region);
        self.persistence.render(argv);
        self.diagnostics.render(argv);
    }
}

/// Source and destination buckets with their endpoints, profiles and regions, as the
/// copy tasks take them (`--src-bucket`, `--src-endpoint`, `--src-profile`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct SrcDst {
    /// Source bucket.
    #[arg(long)]
    pub src_bucket: String,
    /// Source S3 host or URL.
    #[arg(long)]
    pub src_endpoint: Option<String>,
    /// Source profile (read access to the source bucket is enough).
    #[arg(long)]
    pub src_profile: Option<String>,
    /// Source region.
    #[arg(long)]
    pub src_region: Option<String>,
    /// SSE-C key of every source object: a file holding the 256-bit key (32 bytes, or
    /// their base64), private to its owner (mode 600). Only the path goes on command
    /// lines; the task reads the key.
    #[arg(long, value_name = "PATH")]
    pub src_sse_c_key_file: Option<PathBuf>,
    /// Destination bucket.
    #[arg(long)]
    pub dst_bucket: String,
    /// Destination S3 host or URL.
    #[arg(long)]
    pub dst_endpoint: Option<String>,
    /// Destination profile (write access to the destination bucket is enough).
    #[arg(long)]
    pub dst_profile: Option<String>,
    /// Destination region.
    #[arg(long)]
    pub dst_region: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub prefixes: Prefixes,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub persistence: Persistence,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub diagnostics: Diagnostics,
}

/// The prefix mapping of a run (`--src-prefix`, `--dst-prefix`): the records carry
/// source keys, and source key `<src-prefix><rest>` is written to `<dst-prefix><rest>`
/// (see [`crate::select::KeyMap`]). Both empty: every key is its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct Prefixes {
    /// Prefix of the source keys of the run (a plain string prefix).
    #[arg(long, default_value = "", hide_default_value = true)]
    pub src_prefix: String,
    /// What replaces --src-prefix in the destination keys.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub dst_prefix: String,
}

impl Prefixes {
    /// The key mapping.
    pub fn key_map(&self) -> KeyMap {
        KeyMap::new(&self.src_prefix, &self.dst_prefix)
    }

    fn render(&self, argv: &mut Vec<String>) {
        // Left out when empty, so a run without prefixes keeps the article's lines.
        if !self.src_prefix.is_empty() {
            push(argv, "--src-prefix", &self.src_prefix);
        }
        if !self.dst_prefix.is_empty() {
            push(argv, "--dst-prefix", &self.dst_prefix);
        }
    }
}

impl SrcDst {
    /// Client options of the source side.
    pub fn src_options(&self) -> ClientOptions {
        self.persistence
            .apply(ClientOptions {
                endpoint: self.src_endpoint.clone(),
                profile: self.src_profile.clone(),
                region: self.src_region.clone(),
                ..Default::default()
            })
            .for_bucket(crate::credentials::Side::Source, &self.src_bucket)
    }

    /// Client options of the destination side.
    pub fn dst_options(&self) -> ClientOptions {
        self.persistence
            .apply(ClientOptions {
                endpoint: self.dst_endpoint.clone(),
                profile: self.dst_profile.clone(),
                region: self.dst_region.clone(),
                ..Default::default()
            })
            .for_bucket(crate::credentials::Side::Destination, &self.dst_bucket)
    }

    /// Builds the source and destination clients.
    pub async fn clients(&self) -> Result<(crate::s3::Client, crate::s3::Client), crate::Error> {
        let src = crate::s3::client(&self.src_options()).await?;
        let dst = crate::s3::client(&self.dst_options()).await?;
        Ok((src, dst))
    }

    fn render(&self, argv: &mut Vec<String>) {
        // The article's order: buckets and endpoints, then the profiles.
        push(argv, "--src-bucket", &self.src_bucket);
        push_some(argv, "--src-endpoint", &self.src_endpoint);
        push(argv, "--dst-bucket", &self.dst_bucket);
        push_some(argv, "--dst-endpoint", &self.dst_endpoint);
        push_some(argv, "--src-profile", &self.src_profile);
        push_some(argv, "--dst-profile", &self.dst_profile);
        push_some(argv, "--src-region", &self.src_region);
        push_some(argv, "--dst-region", &self.dst_region);
        push_path(argv, "--src-sse-c-key-file", &self.src_sse_c_key_file);
        self.prefixes.render(argv);
        self.persistence.render(argv);
        self.diagnostics.render(argv);
    }
}

/// S3's storage classes, as `--storage-class` takes them.
pub const STORAGE_CLASSES: [&str; 9] = [
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
];

/// S3's canned ACLs for objects, as `--acl` takes them.
pub const CANNED_ACLS: [&str; 7] = [
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
];

/// What the copy tasks set on every object they write instead of what the source has
/// (multipartlist on the uploads it creates, objectcopy on its PUTs). Unset, a copy
/// carries the source's encryption and storage class, and gets no ACL header (the
/// destination bucket's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct WriteSettings {
    /// Server-side encryption of the copies: AES256 (SSE-S3) or aws:kms (SSE-KMS, with
    /// --sse-kms-key-id's key, else the destination's default KMS key).
    #[arg(long, value_parser = ["AES256", "aws:kms"])]
    pub sse: Option<String>,
    /// KMS key (id, ARN or alias) of the copies; implies --sse aws:kms.
    #[arg(long, value_name = "ID")]
    pub sse_kms_key_id: Option<String>,
    /// Storage class of the copies (default: the source's).
    #[arg(long, value_name = "CLASS", value_parser = STORAGE_CLASSES)]
    pub storage_class: Option<String>,
    /// Canned ACL of the copies, e.g. bucket-owner-full-control when the destination
    /// bucket belongs to another account that must own what it holds.
    #[arg(long, value_parser = CANNED_ACLS)]
    pub acl: Option<String>,
    /// Write the copies with SSE-C, with the key in this file (32 bytes, or their
    /// base64; mode 600). Only the path goes on command lines; the task reads the key.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["sse", "sse_kms_key_id"])]
    pub dst_sse_c_key_file: Option<PathBuf>,
}

impl WriteSettings {
    /// Refuses settings that contradict one another: a KMS key with `--sse AES256`,
    /// SSE-C with `--sse` or a KMS key (an object has one encryption).
    pub fn check(&self) -> Result<(), crate::Error> {
        if self.sse_kms_key_id.is_some() && self.sse.as_deref() == Some("AES256") {
            return Err(crate::Error::Usage(
                "--sse-kms-key-id needs --sse aws:kms (or no --sse), not AES256".to_string(),
            ));
        }
        if self.dst_sse_c_key_file.is_some()
            && (self.sse.is_some() || self.sse_kms_key_id.is_some())
        {
            return Err(crate::Error::Usage(
                "--dst-sse-c-key-file writes the copies with SSE-C: it cannot be given with \
                 --sse or --sse-kms-key-id (an object has one encryption)"
                    .to_string(),
            ));
        }
        Ok(())
    }

    fn render(&self, argv: &mut Vec<String>) {
        push_some(argv, "--sse", &self.sse);
        push_some(argv, "--sse-kms-key-id", &self.sse_kms_key_id);
        push_some(argv, "--storage-class", &self.storage_class);
        push_some(argv, "--acl", &self.acl);
        push_path(argv, "--dst-sse-c-key-file", &self.dst_sse_c_key_file);
    }
}

/// List a bucket: reads part-file lines (`<delimiter>,<prefix>` or `range<TAB><start><TAB><end>`) on stdin, writes
/// `key<TAB>etag<TAB>size<TAB>mtime` per object on stdout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(name = "bucketlist", version)]
pub struct BucketListArgs {
    /// Bucket to list.
    #[arg(long)]
    pub bucket: String,
    /// Read S3 Inventory data files instead of listing the bucket: input lines
    /// `<CSV|Parquet><TAB><s3://bucket/key or path><TAB><fileSchema>`, as
    /// `rsync --inventory` writes them; no ListObjectsV2 request.
    #[arg(long, conflicts_with = "distinct")]
    pub inventory: bool,
    /// Reducer of the listing steps: read listing records sorted by key, write each
    /// key once (the latest record of a key listed twice); no S3 request.
    #[arg(long)]
    pub distinct: bool,
    /// Write archived objects (GLACIER, DEEP_ARCHIVE, not restored) as records like
    /// the others instead of skip rows: for `campanile index`, which reads no data.
    #[arg(long, conflicts_with = "distinct")]
    pub keep_archived: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub select: ListingSelection,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub s3: S3Side,
}

impl BucketListArgs {
    pub(super) fn render(&self, argv: &mut Vec<String>) {
        push(argv, "--bucket", &self.bucket);
        if self.inventory {
            argv.push("--inventory".into());
        }
        if self.distinct {
            argv.push("--distinct".into());
        }
        push_flag(argv, "--keep-archived", self.keep_archived);
        self.s3.render(argv);
        self.select.render(argv);
    }
}

/// What bucketlist keeps of what it lists: the keys under `--prefix` that pass the
/// filters (counted `Filtered` when a filter leaves them out), optionally written
/// under another prefix (`--as-prefix`, the destination listing of `rsync --diff`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct ListingSelection {
    /// List only the keys starting with this prefix (a plain string prefix; the part
    /// file's lines are narrowed to it).
    #[arg(long, default_value = "", hide_default_value = true)]
    pub prefix: String,
    /// Write every key with --prefix replaced by this one: the destination listing of
    /// `rsync --diff` written in the source's key space.
    #[arg(long, value_name = "PREFIX")]
    pub as_prefix: Option<String>,
    /// A rule, `include:GLOB` or `exclude:GLOB`, repeatable; the first rule that
    /// matches a key (relative to --prefix) decides, and a key no rule matches is kept
    /// unless every rule is an include (rsync's --include/--exclude).
    #[arg(long = "filter", value_name = "RULE", value_parser = Rule::parse_filter)]
    pub filters: Vec<Rule>,
    /// Keep objects of at least this many bytes (suffixes K, M, G, T: powers of 1024;
    /// KB, MB, GB, TB: of 1000).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub min_size: Option<u64>,
    /// Keep objects of at most this many bytes.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Keep objects last modified at or after this RFC 3339 time.
    #[arg(long, value_name = "TIME", value_parser = Timestamp::parse_rfc3339)]
    pub newer_than: Option<Timestamp>,
    /// Keep objects last modified before this RFC 3339 time.
    #[arg(long, value_name = "TIME", value_parser = Timestamp::parse_rfc3339)]
    pub older_than: Option<Timestamp>,
    /// Keep only the objects of the storage classes a restore deals with (GLACIER,
    /// DEEP_ARCHIVE, INTELLIGENT_TIERING), written as listing records whether they are
    /// restored or not; the others are counted `Filtered` (the listing of
    /// `campanile restore` and of `sync --restored`).
    #[arg(long)]
    pub archived: bool,
    /// List every version and delete marker of each key, one versions record per key
    /// (`key versions:N`, then `versionId etag size mtime` per version, oldest first;
    /// docs/versions.md), with ListObjectVersions.
    #[arg(long, conflicts_with_all = ["version_at", "archived"])]
    pub all_versions: bool,
    /// List each key as it stood at this RFC 3339 time: its newest version last
    /// modified at or before it, as a versions record of one version; a key deleted
    /// then (a delete marker) or not yet written is left out.
    #[arg(long, value_name = "TIME", value_parser = Timestamp::parse_rfc3339,
          conflicts_with = "archived")]
    pub version_at: Option<Timestamp>,
}

impl ListingSelection {
    /// The compiled selection.
    pub fn selection(&self) -> Result<crate::select::Selection, crate::Error> {
        crate::select::Selection::new(
            &self.prefix,
            &self.filters,
            self.min_size,
            self.max_size,
            self.newer_than,
            self.older_than,
        )
        .map_err(|e| crate::Error::Usage(format!("--filter: {e}")))
    }

    /// The key mapping of `--as-prefix` (identity without it).
    pub fn key_map(&self) -> KeyMap {
        match &self.as_prefix {
            Some(as_prefix) => KeyMap::new(as_prefix, &self.prefix),
            None => KeyMap::default(),
        }
    }

    fn render(&self, argv: &mut Vec<String>) {
        // Each left out when unset: a run without them keeps the article's lines.
        if !self.prefix.is_empty() {
            push(argv, "--prefix", &self.prefix);
        }
        push_some(argv, "--as-prefix", &self.as_prefix);
        for rule in &self.filters {
            push(argv, "--filter", rule.to_filter());
        }
        if let Some(size) = self.min_size {
            push(argv, "--min-size", size);
        }
        if let Some(size) = self.max_size {
            push(argv, "--max-size", size);
        }
        if let Some(at) = self.newer_than {
            push(argv, "--newer-than", at);
        }
        if let Some(at) = self.older_than {
            push(argv, "--older-than", at);
        }
        push_flag(argv, "--archived", self.archived);
        push_flag(argv, "--all-versions", self.all_versions);
        if let Some(at) = self.version_at {
            push(argv, "--version-at", at);
        }
    }

    /// Which versions the listing writes.
    pub fn version_listing(&self) -> crate::task::bucketlist::versions::VersionListing {
        use crate::task::bucketlist::versions::VersionListing;
        match (self.all_versions, self.version_at) {
            (true, _) => VersionListing::All,
            (false, Some(at)) => VersionListing::At(at),
            (false, None) => VersionListing::Current,
        }
    }
}

/// Make a part file for a bucket (key ranges of about --keys-per-line keys each,
/// written to stdout), or with --check FILE check a part file against the bucket: the
/// lines that overlap and the key ranges no line lists. Not a streaming task: it runs
/// where the job is submitted.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "partfile", version)]
pub struct PartFileArgs {
    /// Bucket to cut (or to check the part file against).
    #[arg(long)]
    pub bucket: String,
    /// Keys per line, about.
    #[arg(long, default_value_t = crate::partfile::generate::DEFAULT_TARGET_KEYS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub keys_per_line: u64,
    /// About this many lines instead (the keys per line then follow from the estimated
    /// number of keys).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub lines: Option<u64>,
    /// Delimiter of the hierarchy to explore for directories ("" for none).
    #[arg(long, default_value = "/")]
    pub delimiter: String,
    /// ListObjectsV2 requests at most (the part file stays complete when they run out;
    /// its lines are only less even).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: u64,
    /// Check this part file instead of making one: exit 0 when no two lines overlap
    /// and every key of the bucket is listed by a line, 2 otherwise, naming them.
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
    /// Cut the key space from this S3 Inventory report (its manifest.json: an s3://
    /// URI, or a local path with the CSV.gz data files beside it) instead of sampling
    /// the bucket: no ListObjectsV2 request, lines of the target size give or take the
    /// sampling error.
    #[arg(long, value_name = "MANIFEST", conflicts_with_all = ["check", "lines"])]
    pub inventory: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub s3: S3Side,
}

impl PartFileArgs {
    /// The generator's options.
    pub fn generate_options(&self) -> crate::partfile::GenerateOptions {
        crate::partfile::GenerateOptions {
            target_keys: self.keys_per_line,
            lines: self.lines,
            delimiter: Some(self.delimiter.clone()),
            max_requests: self.max_requests,
            ..Default::default()
        }
    }
}

/// Read `key etag size mtime` records; write copy work (`… uploadId partNumber
/// partCount firstByte lastByte`, or five `\N` for a whole object).
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "multipartlist", version)]
pub struct MultipartListArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub buckets: SrcDst,
    /// Create no upload: random upload ids, nothing written to S3.
    #[arg(long)]
    pub dry_run: bool,
    /// Ask S3 for the size of every part (default: the first and the last).
    #[arg(long)]
    pub probe_every_part: bool,
    /// Objects handled at once.
    #[arg(long, default_value_t = MULTIPARTLIST_CONCURRENCY)]
    pub concurrency: usize,
    /// Plan nothing: abort every upload in progress in the destination for the
    /// multipart keys of the input (the clean-up step of a cluster run).
    #[arg(long)]
    pub abort_run: bool,
    /// The records are rewritten onto themselves (`campanile reencrypt`): each record
    /// written carries its listed ETag as the destination's condition, so that every
    /// later write of the key (the copy, the completion, the clean-up's) happens only
    /// while the key still holds what was listed; each upload is created with the
    /// object's ACL grants (GetObjectAcl), unless --acl replaces them.
    #[arg(long)]
    pub in_place: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub write: WriteSettings,
}

impl Default for MultipartListArgs {
    fn default() -> Self {
        MultipartListArgs {
            buckets: SrcDst::default(),
            dry_run: false,
            probe_every_part: false,
            concurrency: MULTIPARTLIST_CONCURRENCY,
            abort_run: false,
            in_place: false,
            write: WriteSettings::default(),
        }
    }
}

impl MultipartListArgs {
    pub(super) fn render(&self, argv: &mut Vec<String>) {
        self.buckets.render(argv);
        push_flag(argv, "--dry-run", self.dry_run);
        push_flag(argv, "--probe-every-part", self.probe_every_part);
        if self.concurrency != MULTIPARTLIST_CONCURRENCY {
            push(argv, "--concurrency", self.concurrency);
        }
        push_flag(argv, "--abort-run", self.abort_run);
        push_flag(argv, "--in-place", self.in_place);
        self.write.render(argv);
    }
}

/// Read multipartlist records; copy them; write `key etag uploadId partEtag partNumber
/// firstByte lastByte` per copied part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(name = "objectcopy", version)]
pub struct ObjectCopyArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub buckets: SrcDst,
    /// campanile.cfg to read first (then /etc/campanile.cfg, then ./campanile.cfg).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Records copied at once (default 64: a small object's copy mostly waits on the
    /// network). Copies share maxtmpsize: a copy waits for its share, so large objects
    /// are copied fewer at a time.
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Print the effective configuration on stderr.
    #[arg(long, short = 'd')]
    pub debug: bool,
    /// Let the server copy the bytes (CopyObject, UploadPartCopy with the source's part
    /// ranges): for one endpoint and credentials (the destination's) that can read the
    /// source. ETags are kept and checked as in the default mode.
    #[arg(long)]
    pub server_side: bool,
    /// Let the server copy each record whose source the destination's credentials can
    /// read (one HEAD of the source, with them, tells) and whose ETag is an MD5; a
    /// whole object's copy gets the source's headers and storage class, as in the
    /// default mode. The others, and every record after a refusal (403), are copied
    /// through this task. Same endpoint only.
    #[arg(long, conflicts_with = "server_side")]
    pub server_side_if_readable: bool,
    /// Rewrite each object onto itself inside the server (`campanile reencrypt`): the
    /// source and destination are one bucket, endpoint and key space; a whole object
    /// gets its own headers (from a HEAD) and ACL grants (GetObjectAcl, unless --acl)
    /// with the write settings over them (CopyObject, REPLACE; tags kept), a part is
    /// copied by its own range; every write is pinned to the listed ETag and
    /// conditional on the key still holding it.
    #[arg(long, conflicts_with_all = ["server_side", "server_side_if_readable"])]
    pub in_place: bool,
    /// Read versions records (`bucketlist --all-versions` or `--version-at`) instead of
    /// multipartlist's: `history` writes each key's versions oldest first into the
    /// destination's version history (versioning must be enabled there), after what
    /// the destination holds of it already; `current` writes the one listed version
    /// as the key's current object. Multipart versions are uploaded and completed by
    /// this task (docs/versions.md).
    #[arg(long, value_name = "MODE",
          value_parser = crate::task::objectcopy::versions::VersionsMode::parse,
          conflicts_with_all = ["server_side", "server_side_if_readable", "in_place"])]
    pub versions: Option<crate::task::objectcopy::versions::VersionsMode>,
    /// With --versions: read the destination, write nothing, and write a `would-copy`
    /// row for each version a copy would write.
    #[arg(long, requires = "versions")]
    pub dry_run: bool,
    /// Prove every write by the MD5 of the bytes read, computed here and sent as
    /// Content-MD5, on any server. By default the task first checks once that the
    /// destination refuses a body that does not match its Content-MD5 or checksum;
    /// if so, a whole object's Content-MD5 is the source's ETag and a part carries a
    /// checksum (its ETag then checked by multipartcomplete), and the task computes no
    /// MD5 (docs/reliability.md). Also read from the environment (rsync's tasks).
    #[arg(long, env = "CAMPANILE_CLIENT_MD5")]
    pub client_md5: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub write: WriteSettings,
}

impl ObjectCopyArgs {
    pub(super) fn render(&self, argv: &mut Vec<String>) {
        self.buckets.render(argv);
        if let Some(config) = &self.config {
            push(argv, "--config", config.display());
        }
        if let Some(concurrency) = self.concurrency {
            push(argv, "--concurrency", concurrency);
        }
        push_flag(argv, "--debug", self.debug);
        push_flag(argv, "--server-side", self.server_side);
        push_flag(
            argv,
            "--server-side-if-readable",
            self.server_side_if_readable,
        );
        push_flag(argv, "--in-place", self.in_place);
        if let Some(mode) = self.versions {
            push(argv, "--versions", mode.as_str());
        }
        push_flag(argv, "--dry-run", self.dry_run);
        push_flag(argv, "--client-md5", self.client_md5);
        self.write.render(argv);
    }
}

/// Read `key etag size mtime` records of archived objects; request a restore of each
/// (RestoreObject) unless one is in progress or done; write `key etag size outcome`.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "objectrestore", version)]
pub struct ObjectRestoreArgs {
    /// Bucket of the objects.
    #[arg(long)]
    pub bucket: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub s3: S3Side,
    /// Retrieval tier: Standard, Bulk or Expedited (Intelligent-Tiering archive tiers
    /// take Standard or Bulk).
    #[arg(long, default_value = "Standard", value_parser = ["Standard", "Bulk", "Expedited"])]
    pub tier: String,
    /// Days the restored copy of a GLACIER or DEEP_ARCHIVE object stays readable
    /// (Intelligent-Tiering objects take none: they move back to the Frequent Access
    /// tier).
    #[arg(long, default_value_t = RESTORE_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    pub days: u32,
    /// Request nothing: write what each object's HEAD says a restore would do.
    #[arg(long)]
    pub dry_run: bool,
    /// Objects handled at once.
    #[arg(long, default_value_t = MULTIPARTLIST_CONCURRENCY)]
    pub concurrency: usize,
}

/// Delete the destination keys the source lacks (`rsync --delete` on a cluster): the
/// single reducer of the delete step reads the rows to delete (`key etag size mtime`,
/// in the source's key space) and the destination's object counts; refuses them all
/// over `--max-delete`, else deletes them (DeleteObjects, after a HEAD of each: a key
/// rewritten since the listing stays) and writes a JSON record per key deleted. With
/// `--select` (the mapper), reads the rows of `hive/delete.q` and writes those to
/// delete and the count of the destination's objects.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "objectdelete", version)]
pub struct ObjectDeleteArgs {
    /// Destination bucket.
    #[arg(long)]
    pub bucket: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub s3: S3Side,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub prefixes: Prefixes,
    /// The mapper: select the rows to delete from `hive/delete.q`'s output and count
    /// the destination's objects (no request).
    #[arg(long)]
    pub select: bool,
    /// Delete nothing when more than N keys (or N% of the destination's objects,
    /// rounded down) would be deleted: exit 1.
    #[arg(long, value_name = "N|N%")]
    pub max_delete: Option<crate::task::objectdelete::MaxDelete>,
    /// Delete nothing: write a record per key that would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// Keys HEADed at once before their DeleteObjects.
    #[arg(long, default_value_t = MULTIPARTLIST_CONCURRENCY)]
    pub concurrency: usize,
}

impl Default for ObjectDeleteArgs {
    fn default() -> Self {
        ObjectDeleteArgs {
            bucket: String::new(),
            s3: S3Side::default(),
            prefixes: Prefixes::default(),
            select: false,
            max_delete: None,
            dry_run: false,
            concurrency: MULTIPARTLIST_CONCURRENCY,
        }
    }
}

impl ObjectDeleteArgs {
    pub(super) fn render(&self, argv: &mut Vec<String>) {
        push(argv, "--bucket", &self.bucket);
        self.s3.render(argv);
        self.prefixes.render(argv);
        push_flag(argv, "--select", self.select);
        if let Some(max) = &self.max_delete {
            push(argv, "--max-delete", max);
        }
        push_flag(argv, "--dry-run", self.dry_run);
        if self.concurrency != MULTIPARTLIST_CONCURRENCY {
            push(argv, "--concurrency", self.concurrency);
        }
    }
}

/// Days a restored copy stays by default: a week, time enough for a copy job.
pub const RESTORE_DAYS: u32 = 7;

impl Default for ObjectRestoreArgs {
    fn default() -> Self {
        ObjectRestoreArgs {
            bucket: String::new(),
            s3: S3Side::default(),
            tier: "Standard".into(),
            days: RESTORE_DAYS,
            dry_run: false,
            concurrency: MULTIPARTLIST_CONCURRENCY,
        }
    }
}

impl ObjectRestoreArgs {
    pub(super) fn render(&self, argv: &mut Vec<String>) {
        push(argv, "--bucket", &self.bucket);
        self.s3.render(argv);
        if self.tier != "Standard" {
            push(argv, "--tier", &self.tier);
        }
        if self.days != RESTORE_DAYS {
            push(argv, "--days", self.days);
        }
        push_flag(argv, "--dry-run", self.dry_run);
        if self.concurrency != MULTIPARTLIST_CONCURRENCY {
            push(argv, "--concurrency", self.concurrency);
        }
    }
}

/// Read listing records (the source listing); HEAD each object on both sides and
/// compare them (content by the strongest proof both sides offer, then content headers,
/// user metadata, storage class and tags); write one JSON report row per key that is
/// not identical (`missing`, `changed`, `metadata_drift`, `unverifiable`, `extra`).
/// With `--extra`, read the diff of the destination listing against the source's
/// instead and report the destination keys the source lacks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(name = "objectverify", version)]
pub struct ObjectVerifyArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub buckets: SrcDst,
    /// Input: the diff rows of the destination listing against the source listing
    /// (`key etag size mtime srcEtag`, `-` when the source lacks the key); report those
    /// the source lacks as `extra`.
    #[arg(long)]
    pub extra: bool,
    /// Objects compared at once (default: multipartlist's).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrency: Option<u64>,
    /// The storage class the copies were written with (sync's --storage-class): the
    /// destination is expected to have it rather than the source's.
    #[arg(long, value_name = "CLASS", value_parser = STORAGE_CLASSES)]
    pub storage_class: Option<String>,
    /// SSE-C key of the destination objects (sync's --dst-sse-c-key-file): every HEAD
    /// of the destination carries it.
    #[arg(long, value_name = "PATH")]
    pub dst_sse_c_key_file: Option<PathBuf>,
}

impl ObjectVerifyArgs {
    pub(super) fn render(&self, argv: &mut Vec<String>) {
        self.buckets.render(argv);
        push_flag(argv, "--extra", self.extra);
        if let Some(concurrency) = self.concurrency {
            push(argv, "--concurrency", concurrency);
        }
        push_some(argv, "--storage-class", &self.storage_class);
        push_path(argv, "--dst-sse-c-key-file", &self.dst_sse_c_key_file);
    }
}

/// Read objectcopy part lines; complete every upload whose parts are all there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(name = "multipartcomplete", version)]
pub struct MultipartCompleteArgs {
    /// Destination bucket.
    #[arg(long)]
    pub bucket: String,
    /// Source bucket: counts the objects skipped because their source is gone or
    /// changed since the listing (default: the destination bucket).
    #[arg(long)]
    pub src_bucket: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub s3: S3Side,
    /// Print `Complete <key>:<uploadId>` and the request XML; complete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// SSE-C key the copies were written with (objectcopy's --dst-sse-c-key-file): a
    /// completed object is read back with it.
    #[arg(long, value_name = "PATH")]
    pub dst_sse_c_key_file: Option<PathBuf>,
    /// The records' (source) keys are completed under mapped destination keys.
    #[command(flatten)]
    pub prefixes: Prefixes,
}

impl MultipartCompleteArgs {
    pub(super) fn render(&self, argv: &mut Vec<String>) {
        push(argv, "--bucket", &self.bucket);
        push_some(argv, "--src-bucket", &self.src_bucket);
        self.s3.render(argv);
        push_flag(argv, "--dry-run", self.dry_run);
        push_path(argv, "--dst-sse-c-key-file", &self.dst_sse_c_key_file);
        self.prefixes.render(argv);
    }
}

/// Index the listed objects (`campanile index`): read listing records, HEAD each
/// object (unless --no-head), write one index row per object: `bucket key etag size
/// mtime storageClass encryption kmsKeyId checksumAlgorithm` (docs/records.md).
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "objectindex", version)]
pub struct ObjectIndexArgs {
    /// Bucket the records were listed from.
    #[arg(long)]
    pub bucket: String,
    /// Keep only the keys this regular expression matches anywhere in the whole key
    /// (anchor with ^ and $); the others are counted `Filtered`. Percent-decoded first
    /// (the plan writes it percent-encoded wherever it holds a space, a quote, a
    /// backslash, a `%` or a non-ASCII character).
    #[arg(long, value_name = "REGEX", value_parser = KeyRegex::parse_arg, allow_hyphen_values = true)]
    pub key_regex: Option<KeyRegex>,
    /// No HEAD: the row's storage class, encryption, KMS key and checksum algorithm
    /// are NULL (`\N`); the rest comes from the listing.
    #[arg(long)]
    pub no_head: bool,
    /// SSE-C key of the objects written with SSE-C (a HEAD of such an object needs
    /// it): a file holding the 256-bit key (32 bytes, or their base64), mode 600.
    #[arg(long, value_name = "PATH")]
    pub sse_c_key_file: Option<PathBuf>,
    /// Objects HEADed at once.
    #[arg(long, default_value_t = OBJECTINDEX_CONCURRENCY)]
    pub concurrency: usize,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub s3: S3Side,
}

impl Default for ObjectIndexArgs {
    fn default() -> Self {
        ObjectIndexArgs {
            bucket: String::new(),
            key_regex: None,
            no_head: false,
            sse_c_key_file: None,
            concurrency: OBJECTINDEX_CONCURRENCY,
            s3: S3Side::default(),
        }
    }
}

impl ObjectIndexArgs {
    pub(super) fn render(&self, argv: &mut Vec<String>) {
        push(argv, "--bucket", &self.bucket);
        if let Some(regex) = &self.key_regex {
            push(argv, "--key-regex", regex.to_arg());
        }
        push_flag(argv, "--no-head", self.no_head);
        push_path(argv, "--sse-c-key-file", &self.sse_c_key_file);
        if self.concurrency != OBJECTINDEX_CONCURRENCY {
            push(argv, "--concurrency", self.concurrency);
        }
        self.s3.render(argv);
    }
}

/// Objects mapped at once by default (each runs one command process).
pub const OBJECTMAP_CONCURRENCY: usize = 8;

/// Read listing records; run `--command` once per object with the object's bytes on
/// stdin (GET pinned to the listed ETag) and its key, size, ETag and bucket in the
/// environment; write its stdout to `--output-template`'s key in the destination
/// bucket, or by default to the job output as `key<TAB>line` per line.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "objectmap", version)]
pub struct ObjectMapArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub buckets: SrcDst,
    /// The command, run with `sh -c`. Percent-decoded first (the plan writes it
    /// percent-encoded: a step's arguments hold no space or quote).
    #[arg(long, value_name = "CMD", value_parser = ArgText::parse_arg, allow_hyphen_values = true)]
    pub command: ArgText,
    /// Destination key of each object's output in the destination bucket, `{key}`
    /// standing for the object's key (percent-decoded first, like --command).
    #[arg(long, value_name = "TEMPLATE", value_parser = ArgText::parse_arg, allow_hyphen_values = true)]
    pub output_template: Option<ArgText>,
    /// Objects mapped at once (one command process each).
    #[arg(long, default_value_t = OBJECTMAP_CONCURRENCY)]
    pub concurrency: usize,
}

impl Default for ObjectMapArgs {
    fn default() -> Self {
        ObjectMapArgs {
            buckets: SrcDst::default(),
            command: ArgText(String::new()),
            output_template: None,
            concurrency: OBJECTMAP_CONCURRENCY,
        }
    }
}

impl ObjectMapArgs {
    pub(super) fn render(&self, argv: &mut Vec<String>) {
        self.buckets.render(argv);
        push(argv, "--command", self.command.to_arg());
        if let Some(template) = &self.output_template {
            push(argv, "--output-template", template.to_arg());
        }
        if self.concurrency != OBJECTMAP_CONCURRENCY {
            push(argv, "--concurrency", self.concurrency);
        }
    }
}

/// The bytes a free text ([`ArgText`]) is percent-encoded for on a task's command
/// line: everything but ASCII letters, digits, `_`, `.` and `/`, so that no shell,
/// Hadoop's argument splitting or the plan's checks ever sees a space, a quote, a `$`
/// or a leading `-`.
const TEXT_ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'/');

/// Free text a task takes on its command line (a shell command, a key template):
/// written percent-encoded ([`ArgText::to_arg`]), read back decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArgText(pub String);

impl ArgText {
    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text as a task's command line carries it.
    pub fn to_arg(&self) -> String {
        percent_encoding::utf8_percent_encode(&self.0, TEXT_ESCAPE).to_string()
    }

    /// Reads [`ArgText::to_arg`]'s form back.
    pub fn parse_arg(text: &str) -> Result<ArgText, String> {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map(|decoded| ArgText(decoded.into_owned()))
            .map_err(|_| format!("{text:?} is not percent-encoded UTF-8"))
    }
}

fn push(argv: &mut Vec<String>, flag: &str, value: impl std::fmt::Display) {
    argv.push(flag.to_string());
    argv.push(value.to_string());
}

fn push_some(argv: &mut Vec<String>, flag: &str, value: &Option<String>) {
    if let Some(value) = value {
        push(argv, flag, value);
    }
}

fn push_path(argv: &mut Vec<String>, flag: &str, value: &Option<PathBuf>) {
    if let Some(value) = value {
        push(argv, flag, value.display());
    }
}

fn push_flag(argv: &mut Vec<String>, flag: &str, set: bool) {
    if set {
        argv.push(flag.to_string());
    }
}
