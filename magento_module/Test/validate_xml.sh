#!/usr/bin/env bash
# Offline checks of the module: every etc/*.xml and etc/adminhtml/system.xml against Magento's
# XSDs (xmllint + the OASIS catalog that resolves urn:magento:...), the JSON files, the i18n CSV
# dictionaries (2 columns, no duplicates) and `php -l` on every PHP file. One line per file; last
# line "N passed, M failed"; exit 1 on any failure.
#
#   magento_module/Test/validate_xml.sh                 # XSDs from <repo>/../shared/reference/magento/xsd
#   MAGENTO_XSD_DIR=/path/to/xsd magento_module/Test/validate_xml.sh
set -u

MODULE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_ROOT="$(cd "$MODULE_DIR/.." && pwd)"
XSD_DIR="${MAGENTO_XSD_DIR:-$REPO_ROOT/../shared/reference/magento/xsd}"

if [ ! -d "$XSD_DIR" ] || [ ! -f "$XSD_DIR/catalog.xml" ]; then
    echo "FAIL  XSD directory not found (or has no catalog.xml): $XSD_DIR (set MAGENTO_XSD_DIR)" >&2
    echo "0 passed, 1 failed"
    exit 2
fi
for tool in xmllint php; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "FAIL  $tool not installed" >&2
        echo "0 passed, 1 failed"
        exit 2
    fi
done
XSD_DIR="$(cd "$XSD_DIR" && pwd)"
export XML_CATALOG_FILES="$XSD_DIR/catalog.xml"

passed=0
failed=0
ok()   { echo "PASS  $1"; passed=$((passed + 1)); }
bad()  { echo "FAIL  $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/      /'; failed=$((failed + 1)); }

xsd_for() {
    case "$1" in
        etc/module.xml)           echo "framework/Module/etc/module.xsd" ;;
        etc/events.xml)           echo "framework/Event/etc/events.xsd" ;;
        etc/db_schema.xml)        echo "framework/Setup/Declaration/Schema/etc/schema.xsd" ;;
        etc/di.xml)               echo "framework/ObjectManager/etc/config.xsd" ;;
        etc/acl.xml)              echo "framework/Acl/etc/acl.xsd" ;;
        etc/config.xml)           echo "module/Magento_Store/etc/config.xsd" ;;
        etc/crontab.xml)          echo "module/Magento_Cron/etc/crontab.xsd" ;;
        etc/adminhtml/system.xml) echo "module/Magento_Config/etc/system_file.xsd" ;;
        *)                        echo "" ;;
    esac
}

cd "$MODULE_DIR" || exit 2

shopt -s nullglob
xml_files=(etc/*.xml)
[ -f etc/adminhtml/system.xml ] && xml_files+=(etc/adminhtml/system.xml)
for required in etc/module.xml etc/events.xml etc/db_schema.xml etc/config.xml etc/acl.xml etc/adminhtml/system.xml; do
    [ -f "$required" ] || bad "$required (missing)"
done
for f in "${xml_files[@]}"; do
    xsd="$(xsd_for "$f")"
    if [ -z "$xsd" ]; then
        bad "$f (no XSD mapping known for this file; add one to $0)"
        continue
    fi
    if [ ! -f "$XSD_DIR/$xsd" ]; then
        bad "$f (XSD missing: $XSD_DIR/$xsd)"
        continue
    fi
    if out="$(xmllint --noout --nonet --schema "$XSD_DIR/$xsd" "$f" 2>&1)"; then
        ok "$f ($xsd)"
    else
        bad "$f ($xsd)" "$out"
    fi
done

for f in composer.json etc/db_schema_whitelist.json; do
    if [ ! -f "$f" ]; then
        bad "$f (missing)"
    elif out="$(php -r 'json_decode(file_get_contents($argv[1]), false, 512, JSON_THROW_ON_ERROR);' "$f" 2>&1)"; then
        ok "$f (JSON)"
    else
        bad "$f (JSON)" "$out"
    fi
done

# i18n dictionaries as Magento's File\Csv reads them: every row "source","translation".
for f in i18n/*.csv; do
    if out="$(php -r '$h = fopen($argv[1], "rb"); $n = 0; $seen = [];
        while (($r = fgetcsv($h, 0, ",", "\"")) !== false) { $n++;
            if (count($r) !== 2) { fwrite(STDERR, "line $n: " . count($r) . " columns\n"); exit(1); }
            if (isset($seen[$r[0]])) { fwrite(STDERR, "line $n: duplicate\n"); exit(1); } $seen[$r[0]] = 1; }
        if ($n === 0) { fwrite(STDERR, "empty\n"); exit(1); }' "$f" 2>&1)"; then
        ok "$f (CSV)"
    else
        bad "$f (CSV)" "$out"
    fi
done

while IFS= read -r -d '' f; do
    f="${f#./}"
    if out="$(php -l "$f" 2>&1)"; then
        ok "$f (php -l)"
    else
        bad "$f (php -l)" "$out"
    fi
done < <(find . -name '*.php' -not -path './vendor/*' -print0 | sort -z)

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
