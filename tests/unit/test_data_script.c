/* Tests of tools/data.sh (`make data`): copies from a mirror, the download
 * path against a local HTTP server (python3 -m http.server on 127.0.0.1),
 * resuming a partial download, refusing a file whose checksum fails (it must
 * never reach data/), TU zips, FSDD's listing digest, the messages for missing
 * data, and the built-in checksum table against the real shared data when it
 * is reachable. Every test works in its own temp folder and stops the server
 * it started. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "labtest.h"

static char T[256];       /* temp folder */
static char repo[4096];   /* where tools/data.sh is */
static pid_t server = -1;
static int port;
static char out[65536];   /* output of the last run */

static void sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "command failed (%d): %s", rc, cmd);
}

static void setup(void)
{
    if (!getcwd(repo, sizeof repo)) repo[0] = '\0';
    snprintf(T, sizeof T, "/tmp/lab_data_sh_XXXXXX");
    cr_assert_not_null(mkdtemp(T));
    sh("mkdir -p '%s/served' '%s/mirror' '%s/dest'", T, T, T);
}

static void teardown(void)
{
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
        server = -1;
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", T);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", T);
}

TestSuite(data_script, .init = setup, .fini = teardown);

static void need_script(void)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/tools/data.sh", repo);
    if (access(p, X_OK) != 0) cr_skip_test("run from the repository root: %s not found", p);
}

/* Serve T/served on a free port of 127.0.0.1. */
static void start_server(void)
{
    if (access("/usr/bin/python3", X_OK) != 0) cr_skip_test("/usr/bin/python3 is needed for the local HTTP server");
    if (system("command -v curl >/dev/null 2>&1") != 0) cr_skip_test("curl is not installed");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(s);
    char dir[300], portstr[16];
    snprintf(dir, sizeof dir, "%s/served", T);
    snprintf(portstr, sizeof portstr, "%d", port);
    server = fork();
    cr_assert(server >= 0);
    if (server == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execl("/usr/bin/python3", "python3", "-m", "http.server", portstr, "--bind", "127.0.0.1", "--directory", dir,
              (char *)NULL);
        _exit(127);
    }
    /* Wait until it accepts connections (at most 10 s). */
    for (int i = 0; i < 200; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(c, (struct sockaddr *)&b, sizeof b) == 0;
        close(c);
        if (ok) return;
        usleep(50000);
    }
    cr_assert_fail("the local HTTP server did not start on port %d", port);
}

/* Run tools/data.sh with extra environment `env` and arguments; the output
 * goes to `out`; returns the exit status. */
static int run(const char *env, const char *args)
{
    char cmd[8192], log[300];
    snprintf(log, sizeof log, "%s/out.txt", T);
    snprintf(cmd, sizeof cmd, "cd '%s' && env LAB_DATA_DEST='%s/dest' %s ./tools/data.sh %s > '%s' 2>&1", repo, T, env,
             args, log);
    int rc = system(cmd);
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = '\0';
    if (f) fclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

#define assert_out(needle) cr_assert(strstr(out, (needle)) != NULL, "output lacks \"%s\":\n%s", (needle), out)

static int exists(const char *rel)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", T, rel);
    return access(p, F_OK) == 0;
}

/* Four fake MNIST files in T/<where>/mnist and a sums file for them. */
static void fake_mnist(const char *where)
{
    sh("cd '%s' && mkdir -p %s/mnist && for f in train-images-idx3-ubyte train-labels-idx1-ubyte "
       "t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do head -c 5000 /dev/urandom > %s/mnist/$f.gz; done && "
       "(cd %s && sha256sum mnist/*.gz) | awk '{print \"sha256\", $1, $2}' > sums",
       T, where, where, where);
}

Test(data_script, download_refuses_a_corrupt_file_then_completes)
{
    need_script();
    fake_mnist("served");
    /* Corrupt one served file after its sum was taken. */
    sh("cd '%s' && printf x >> served/mnist/t10k-labels-idx1-ubyte.gz", T);
    start_server();
    char env[600];
    snprintf(env, sizeof env, "LAB_DATA_MIRROR= LAB_DATA_SUMS='%s/sums' LAB_DATA_URL_BASE=http://127.0.0.1:%d", T, port);
    int rc = run(env, "mnist");
    cr_assert_eq(rc, 1, "exit %d:\n%s", rc, out);
    assert_out("data: mnist          MISSING mnist/t10k-labels-idx1-ubyte.gz");
    assert_out("mnist/t10k-labels-idx1-ubyte.gz fails its checksum (sha256 ");
    assert_out("(downloaded, but it fails its checksum)");
    cr_assert(exists("dest/mnist/train-images-idx3-ubyte.gz"));
    cr_assert(exists("dest/mnist/t10k-images-idx3-ubyte.gz"));
    cr_assert(!exists("dest/mnist/t10k-labels-idx1-ubyte.gz"), "a corrupt file was moved into place");
    cr_assert(!exists("dest/.staging/mnist/t10k-labels-idx1-ubyte.gz"), "a corrupt file stayed staged");
    /* Repair the server's copy: the next run fetches only that file. */
    sh("cd '%s' && truncate -s -1 served/mnist/t10k-labels-idx1-ubyte.gz", T);
    rc = run(env, "mnist");
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, out);
    assert_out("data: mnist          ok (already in");
    assert_out("downloaded from http://127.0.0.1:");
    sh("cd '%s' && cmp dest/mnist/t10k-labels-idx1-ubyte.gz served/mnist/t10k-labels-idx1-ubyte.gz", T);
    cr_assert(!exists("dest/.staging"), "staging folder left behind");
}

Test(data_script, resumes_a_partial_download)
{
    need_script();
    fake_mnist("served");
    sh("cd '%s' && mkdir -p dest/.staging/mnist && head -c 2000 served/mnist/train-images-idx3-ubyte.gz > "
       "dest/.staging/mnist/train-images-idx3-ubyte.gz.part",
       T);
    start_server();
    char env[600];
    snprintf(env, sizeof env, "LAB_DATA_MIRROR= LAB_DATA_SUMS='%s/sums' LAB_DATA_URL_BASE=http://127.0.0.1:%d", T, port);
    int rc = run(env, "mnist");
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, out);
    sh("cd '%s' && cmp dest/mnist/train-images-idx3-ubyte.gz served/mnist/train-images-idx3-ubyte.gz", T);
    cr_assert(!exists("dest/.staging/mnist/train-images-idx3-ubyte.gz.part"));
}

Test(data_script, mirror_copy_is_checked)
{
    need_script();
    fake_mnist("mirror");
    sh("cd '%s' && printf x >> mirror/mnist/train-labels-idx1-ubyte.gz", T);
    char env[600];
    snprintf(env, sizeof env, "LAB_DATA_MIRROR='%s/mirror' LAB_DATA_SUMS='%s/sums' LAB_DATA_OFFLINE=1", T, T);
    int rc = run(env, "mnist");
    cr_assert_eq(rc, 1, "exit %d:\n%s", rc, out);
    char want[600];
    snprintf(want, sizeof want, "note: %s/mirror/mnist/train-labels-idx1-ubyte.gz fails its checksum", T);
    assert_out(want);
    snprintf(want, sizeof want, "looked: %s/mirror/mnist/train-labels-idx1-ubyte.gz (fails its checksum)", T);
    assert_out(want);
    assert_out("train-labels-idx1-ubyte.gz (not downloaded: LAB_DATA_OFFLINE=1)");
    cr_assert(exists("dest/mnist/train-images-idx3-ubyte.gz"));
    cr_assert(!exists("dest/mnist/train-labels-idx1-ubyte.gz"));
    /* A copy in data/ that no longer matches is replaced. */
    sh("cd '%s' && truncate -s -1 mirror/mnist/train-labels-idx1-ubyte.gz && printf y >> "
       "dest/mnist/train-images-idx3-ubyte.gz",
       T);
    rc = run(env, "mnist");
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, out);
    assert_out("fails its checksum");
    assert_out("replacing it");
    sh("cd '%s' && cmp dest/mnist/train-images-idx3-ubyte.gz mirror/mnist/train-images-idx3-ubyte.gz", T);
}

Test(data_script, tu_zip_and_fsdd_download)
{
    need_script();
    /* TOY.zip holds TOY/TOY_A.txt etc.; only the files inside have sums. */
    sh("cd '%s' && mkdir -p z/TOY served/tu && printf '1, 2\\n2, 1\\n' > z/TOY/TOY_A.txt && "
       "printf '1\\n1\\n' > z/TOY/TOY_graph_indicator.txt && printf '0\\n' > z/TOY/TOY_graph_labels.txt && "
       "(cd z && /usr/bin/python3 -m zipfile -c ../served/tu/TOY.zip TOY) && "
       "(cd z && sha256sum TOY/*) | awk '{print \"sha256\", $1, \"tu/\" $2}' > sums",
       T);
    /* Two fake recordings and a README; the listing digest as the script computes it. */
    sh("cd '%s' && mkdir -p served/fsdd/recordings && head -c 900 /dev/urandom > served/fsdd/recordings/0_a_0.wav && "
       "head -c 700 /dev/urandom > served/fsdd/recordings/1_b_3.wav && echo readme > served/fsdd/README.md && "
       "echo \"listing $(cd served/fsdd/recordings && LC_ALL=C sha256sum -- *.wav | LC_ALL=C sort -k2 | sha256sum | "
       "cut -c1-64) fsdd/recordings\" >> sums && "
       "echo \"sha256 $(sha256sum < served/fsdd/README.md | cut -c1-64) fsdd/README.md\" >> sums",
       T);
    start_server();
    char env[800];
    snprintf(env, sizeof env,
             "LAB_DATA_MIRROR= LAB_DATA_SUMS='%s/sums' LAB_DATA_URL_BASE=http://127.0.0.1:%d "
             "LAB_DATA_FSDD_NAMES='0_a_0.wav 1_b_3.wav'",
             T, port);
    int rc = run(env, "tu:TOY fsdd");
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, out);
    assert_out("data: tu:TOY         ok (downloaded from http://127.0.0.1:");
    assert_out("data: fsdd           ok (downloaded from http://127.0.0.1:");
    sh("cd '%s' && cmp dest/tu/TOY/TOY_A.txt z/TOY/TOY_A.txt && cmp dest/fsdd/recordings/1_b_3.wav "
       "served/fsdd/recordings/1_b_3.wav && test -f dest/fsdd/README.md",
       T);
    cr_assert(!exists("dest/.staging"), "staging folder left behind:\n%s", out);
    /* A recording that changes on the server fails the listing digest. */
    sh("cd '%s' && rm -rf dest/fsdd && printf x >> served/fsdd/recordings/0_a_0.wav", T);
    rc = run(env, "fsdd");
    cr_assert_eq(rc, 1, "exit %d:\n%s", rc, out);
    assert_out("(downloaded, but the recordings fail their checksum: listing ");
    cr_assert(!exists("dest/fsdd/recordings"));
}

Test(data_script, missing_data_says_where_it_looked)
{
    need_script();
    char env[600];
    snprintf(env, sizeof env, "LAB_DATA_MIRROR='%s/mirror' LAB_DATA_OFFLINE=1", T);
    int rc = run(env, "cora cifar10 tu:NOPE imagenet");
    cr_assert_eq(rc, 1, "exit %d:\n%s", rc, out);
    char want[800];
    snprintf(want, sizeof want,
             "looked: %s/mirror/planetoid/{ind.cora.x, ind.cora.y, ind.cora.tx, ind.cora.ty, ind.cora.allx, "
             "ind.cora.ally, ind.cora.graph, ind.cora.test.index} (no such file)",
             T);
    assert_out(want);
    assert_out("https://github.com/kimiyoung/planetoid/raw/master/data/{ind.cora.x");
    assert_out("(not downloaded: LAB_DATA_OFFLINE=1)");
    assert_out("data: cifar10        MISSING cifar10/cifar-10-batches-bin/{data_batch_1.bin");
    assert_out("https://www.cs.toronto.edu/~kriz/cifar.html");
    assert_out("cifar10/cifar-10-batches-bin/data_batch_1.bin ...)");
    assert_out("no checksums are known for tu/NOPE");
    assert_out("data: unknown data set 'imagenet'");
    cr_assert(!exists("dest/planetoid"));
}

Test(data_script, builtin_checksums_match_the_shared_data)
{
    need_script();
    char shared[4200];
    snprintf(shared, sizeof shared, "%s/../shared/data/SOURCES.md", repo);
    if (access(shared, R_OK) != 0) cr_skip_test("no shared data next to the repository");
    int rc = run("LAB_DATA_OFFLINE=1", "mnist cora citeseer tu:MUTAG tu:NCI1 fsdd");
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, out);
    assert_out("data: mnist          ok (copied from ../shared/data/mnist)");
    assert_out("data: fsdd           ok (copied from ../shared/data/fsdd)");
    cr_assert(exists("dest/fsdd/recordings/7_jackson_32.wav"));
    cr_assert(exists("dest/tu/MUTAG/MUTAG_A.txt"));
    /* A second run finds everything in place. */
    rc = run("LAB_DATA_OFFLINE=1", "mnist tu:MUTAG fsdd");
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, out);
    assert_out("data: fsdd           ok (already in");
}
