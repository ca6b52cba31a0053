package containers

import "github.com/hardend/hardend/internal/check"

// Daemon checks (area "daemon", subject: the Docker daemon).
var (
	defDMN001 = check.Definition{ID: "HD-DMN-001", Area: "daemon", Title: "Docker API reachable over TCP without TLS client verification",
		Severity: check.Critical, References: []string{"guide intro", "CIS Docker 2.7"}}
	defDMN002 = check.Definition{ID: "HD-DMN-002", Area: "daemon", Title: "Docker socket not owned by root or writable by others",
		Severity: check.Critical, References: []string{"CIS Docker 3.15", "CIS Docker 3.16"}}
	defDMN003 = check.Definition{ID: "HD-DMN-003", Area: "daemon", Title: "published ports bind every interface by default (no \"ip\": \"127.0.0.1\")",
		Severity: check.Medium, References: []string{"guide §4"}}
	defDMN004 = check.Definition{ID: "HD-DMN-004", Area: "daemon", Title: "Docker manages no firewall (\"iptables\": false) or its backend has no DOCKER-USER",
		Severity: check.High, References: []string{"CIS Docker 2.4"}}
	defDMN005 = check.Definition{ID: "HD-DMN-005", Area: "daemon", Title: "inter-container communication (icc) not disabled",
		Severity: check.Medium, References: []string{"CIS Docker 2.2"}}
	defDMN006 = check.Definition{ID: "HD-DMN-006", Area: "daemon", Title: "no user namespace remapping and not rootless",
		Severity: check.Medium, References: []string{"CIS Docker 2.9"}}
	defDMN007 = check.Definition{ID: "HD-DMN-007", Area: "daemon", Title: "no-new-privileges not the daemon default",
		Severity: check.Medium, References: []string{"CIS Docker 2.14"}}
	defDMN008 = check.Definition{ID: "HD-DMN-008", Area: "daemon", Title: "live-restore off",
		Severity: check.Low, References: []string{"CIS Docker 2.15"}}
	defDMN009 = check.Definition{ID: "HD-DMN-009", Area: "daemon", Title: "userland-proxy on",
		Severity: check.Low, References: []string{"CIS Docker 2.16"}}
	defDMN010 = check.Definition{ID: "HD-DMN-010", Area: "daemon", Title: "daemon.json unreadable or malformed",
		Severity: check.High}
	defDMN011 = check.Definition{ID: "HD-DMN-011", Area: "daemon", Title: "daemon.json or its directory writable by a non-root user",
		Severity: check.High, References: []string{"CIS Docker 3.17", "CIS Docker 3.18"}}
)

// Container checks (area "containers", subject: one running container).
var (
	defCTR001 = check.Definition{ID: "HD-CTR-001", Area: "containers", Title: "container process runs as root",
		Severity: check.High, References: []string{"guide §1", "CIS Docker 4.1"}}
	defCTR002 = check.Definition{ID: "HD-CTR-002", Area: "containers", Title: "container is privileged",
		Severity: check.Critical, References: []string{"guide §1-2", "CIS Docker 5.5"}}
	defCTR003 = check.Definition{ID: "HD-CTR-003", Area: "containers", Title: "Docker socket mounted into the container",
		Severity: check.Critical, References: []string{"guide §1 Pro Tip", "CIS Docker 5.32"}}
	defCTR004 = check.Definition{ID: "HD-CTR-004", Area: "containers", Title: "capabilities not dropped (no --cap-drop=ALL)",
		Severity: check.Medium, References: []string{"guide §2"}}
	defCTR005 = check.Definition{ID: "HD-CTR-005", Area: "containers", Title: "dangerous capability in the effective set",
		Severity: check.High, References: []string{"guide §2", "CIS Docker 5.4"}}
	defCTR006 = check.Definition{ID: "HD-CTR-006", Area: "containers", Title: "root filesystem writable (no --read-only)",
		Severity: check.Medium, References: []string{"guide §5", "CIS Docker 5.13"}}
	defCTR007 = check.Definition{ID: "HD-CTR-007", Area: "containers", Title: "sensitive host path mounted",
		Severity: check.High, References: []string{"CIS Docker 5.6"}}
	defCTR008 = check.Definition{ID: "HD-CTR-008", Area: "containers", Title: "host namespace shared (network, pid, ipc, uts or userns)",
		Severity: check.High, References: []string{"CIS Docker 5.10", "CIS Docker 5.16", "CIS Docker 5.17", "CIS Docker 5.21", "CIS Docker 5.31"}}
	defCTR009 = check.Definition{ID: "HD-CTR-009", Area: "containers", Title: "seccomp or AppArmor unconfined",
		Severity: check.High, References: []string{"CIS Docker 5.2", "CIS Docker 5.22"}}
	defCTR010 = check.Definition{ID: "HD-CTR-010", Area: "containers", Title: "no-new-privileges not set",
		Severity: check.Medium, References: []string{"CIS Docker 5.26"}}
	defCTR011 = check.Definition{ID: "HD-CTR-011", Area: "containers", Title: "no memory or pids limit",
		Severity: check.Low, References: []string{"CIS Docker 5.11", "CIS Docker 5.29"}}
	defCTR012 = check.Definition{ID: "HD-CTR-012", Area: "containers", Title: "host devices passed through",
		Severity: check.Medium, References: []string{"CIS Docker 5.18"}}
)

// Definitions is this package's catalogue: HD-DMN-001..011 (area "daemon") and
// HD-CTR-001..012 (area "containers"), each area in ID order.
var Definitions = []check.Definition{
	defDMN001, defDMN002, defDMN003, defDMN004, defDMN005, defDMN006, defDMN007, defDMN008, defDMN009, defDMN010, defDMN011,
	defCTR001, defCTR002, defCTR003, defCTR004, defCTR005, defCTR006, defCTR007, defCTR008, defCTR009, defCTR010, defCTR011, defCTR012,
}

var containerDefs = []check.Definition{defCTR001, defCTR002, defCTR003, defCTR004, defCTR005, defCTR006,
	defCTR007, defCTR008, defCTR009, defCTR010, defCTR011, defCTR012}
