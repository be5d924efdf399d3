//! Reading the server's metrics page.

use super::*;

#[test]
fn parses_proc_files() {
    let status = "Name:\tchat-server\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
    assert_eq!(parse_vm_rss(status), Some(12345));
    assert_eq!(parse_vm_rss("Name: x\n"), None);
    let stat = "42 (chat server) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
    assert_eq!(parse_cpu_ticks(stat), Some(300));
    let stat =
        "cpu  7488899 637130 1164618 3438876 36922 0 164490 29825 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
    assert_eq!(parse_steal_ticks(stat), Some(29825));
    assert_eq!(
        parse_steal_ticks("cpu0 1 2 3 4 5 6 7 8\n"),
        None,
        "not the sum line"
    );
    assert_eq!(parse_steal_ticks("cpu 1 2 3\n"), None, "no steal field");
}

#[test]
fn reads_this_process() {
    let me = std::process::id();
    assert!(rss_kb(me).unwrap() > 0);
    assert!(cpu_seconds(me).is_some());
}

#[test]
fn parses_metrics_page() {
    let page = "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
                # TYPE process_resident_memory_bytes gauge\n\
                process_resident_memory_bytes 2.097152e7\n";
    assert_eq!(parse_metrics_rss(page), Some(20_971_520));
    assert_eq!(parse_metrics_rss("chat_connections 3\n"), None);
}
