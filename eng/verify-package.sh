#!/usr/bin/env bash
# Proves the two packages users add, from fresh projects outside the repository:
#   Pmem.Objects          (src/Pmem.Core: the runtime, with the generator under analyzers/dotnet/cs)
#   Pmem.Objects.Testing  (src/Pmem.Testing: the simulated domain and crash campaigns, for test projects)
# It packs both into a local folder and checks their contents (the generator inside and not a dependency, XML docs,
# the Testing package depending on exactly the same Pmem.Objects version, no test-time code in the product). Then:
#   1. a console app referencing only Pmem.Objects: the bundled generator completes a [PersistentObject] class, and
#      two runs create a pool file and reopen it;
#   2. (unless PMEM_PACKAGE_TEST_PROJECT=0) an xunit test project referencing Pmem.Objects and Pmem.Objects.Testing
#      with a user-written crash campaign (the example of docs/testing.md) passes `dotnet test`.
# The packages get a version of their own for each run (0.1.0-verify.<time>) and restore into an empty package cache
# whose only fallback is the machine's own cache (for xunit and the like), so no older build can ever be used.
#
# Usage: eng/verify-package.sh            (packs a fresh Release build)
# Environment:
#   PMEM_CONFIGURATION=Release|Debug      configuration to pack (default Release)
#   PMEM_PACK_NO_BUILD=1                  pack the existing build (the xunit test uses this; the build is already done)
#   PMEM_PACKAGE_TEST_PROJECT=0           skip step 2 (the consumer test project)
#   PMEM_KEEP_WORK=1                      keep the temporary directory for inspection
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
configuration=${PMEM_CONFIGURATION:-Release}
work=$(mktemp -d "${TMPDIR:-/tmp}/pmem-package.XXXXXX")
if [[ "${PMEM_KEEP_WORK:-0}" == 1 ]]; then
    echo "work directory: $work"
else
    trap 'rm -rf "$work"' EXIT
fi

export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
started=$SECONDS
fail() { echo "FAIL: $*"; exit 1; }

# The machine's package cache, read before NUGET_PACKAGES points at an empty one below.
machine_cache=$(dotnet nuget locals global-packages --list | sed -n 's/^global-packages: *//p')
version="0.1.0-verify.$(date +%Y%m%d%H%M%S).$$"

pack_args=(-c "$configuration" -o "$work/feed" "-p:PackageVersion=$version" --nologo -v quiet)
if [[ "${PMEM_PACK_NO_BUILD:-0}" == 1 ]]; then
    pack_args+=(--no-build)
fi
for project in Pmem.Core Pmem.Testing; do
    dotnet pack "$repo/src/$project" "${pack_args[@]}" >"$work/pack-$project.log" 2>&1 || { cat "$work/pack-$project.log"; exit 1; }
done
objects="$work/feed/Pmem.Objects.$version.nupkg"
testing="$work/feed/Pmem.Objects.Testing.$version.nupkg"
[[ -f "$objects" && -f "$testing" ]] || { ls "$work/feed"; fail "expected Pmem.Objects and Pmem.Objects.Testing $version in the feed"; }
echo "packed Pmem.Objects and Pmem.Objects.Testing $version in $((SECONDS - started)) s"

if command -v unzip >/dev/null; then
    # Listed into variables first: grep -q closing the pipe early would fail the pipeline under pipefail.
    entries=$(unzip -Z1 "$objects")
    nuspec=$(unzip -p "$objects" Pmem.Objects.nuspec)
    for entry in analyzers/dotnet/cs/Pmem.Generators.dll lib/net10.0/Pmem.Core.dll lib/net10.0/Pmem.Core.xml README.md; do
        grep -qx "$entry" <<<"$entries" || { echo "$entries"; fail "Pmem.Objects has no $entry"; }
    done
    if grep -qi 'Pmem.Generators' <<<"$nuspec"; then fail "Pmem.Objects declares a dependency on Pmem.Generators"; fi
    if grep -qi 'Pmem.Testing' <<<"$entries"; then fail "Pmem.Objects carries test-time code"; fi

    entries=$(unzip -Z1 "$testing")
    nuspec=$(unzip -p "$testing" Pmem.Objects.Testing.nuspec)
    for entry in lib/net10.0/Pmem.Testing.dll lib/net10.0/Pmem.Testing.xml testing.md; do
        grep -qx "$entry" <<<"$entries" || { echo "$entries"; fail "Pmem.Objects.Testing has no $entry"; }
    done
    if grep -q 'Pmem.Core.dll\|Pmem.Generators' <<<"$entries"; then fail "Pmem.Objects.Testing carries the product's files"; fi
    dependency=$(grep -o '<dependency id="Pmem.Objects"[^>]*>' <<<"$nuspec" || true)
    [[ "$dependency" == *"version=\"[$version]\""* ]] \
        || { echo "$nuspec"; fail "Pmem.Objects.Testing must depend on exactly Pmem.Objects [$version], found: ${dependency:-none}"; }
    echo "package contents: generator in analyzers/dotnet/cs, XML docs in both, Testing depends on Pmem.Objects [$version]"
else
    echo "unzip not found: package contents not checked"
fi

# Both consumers: the repository's global.json (the SDK band the generator's Roslyn matches, and the test runner),
# the local feed beside the machine's configured sources, and the machine's cache as a read-only fallback.
make_consumer() {
    mkdir -p "$1"
    cp "$repo/global.json" "$1/"
    {
        echo '<?xml version="1.0" encoding="utf-8"?>'
        echo '<configuration>'
        echo "  <packageSources><add key=\"pmem-local\" value=\"$work/feed\" /></packageSources>"
        if [[ -n "$machine_cache" && -d "$machine_cache" ]]; then
            echo "  <fallbackPackageFolders><add key=\"machine-cache\" value=\"$machine_cache\" /></fallbackPackageFolders>"
        fi
        echo '</configuration>'
    } >"$1/nuget.config"
}
export NUGET_PACKAGES="$work/packages"

# 1. A console app with Pmem.Objects alone.
app="$work/app"
make_consumer "$app"
cat >"$app/PackageConsumer.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Pmem.Objects" Version="$version" />
  </ItemGroup>
</Project>
XML
cat >"$app/Program.cs" <<'CS'
using Pmem.Objects;
using Pmem.Pool;

// Without the bundled generator this file does not compile (CS9248: partial properties without implementation).
var path = args[0];
using var pool = File.Exists(path)
    ? PersistentPool.Open(path, "package-check")
    : PersistentPool.Create(path, "package-check", 16 << 20);
var account = pool.Root<Account>();
account.Runs++;
if (account.Runs == 1)
{
    using var tx = pool.BeginTransaction();
    account.Owner = "Ada";
    account.Balance = 42;
    account.History.Add(40);
    account.History.Add(2);
    tx.Commit();
}

var stored = pool.Inspect().StoredTypes.Single(t => t.Name == "package.account");
Console.WriteLine($"run={account.Runs} owner={account.Owner} balance={account.Balance} history={string.Join(",", account.History)} size={Account.PersistentType.Size} stored={stored.Size}/{stored.FieldCount}");

[PersistentObject(Name = "package.account")]
public partial class Account
{
    public partial long Runs { get; set; }

    public partial long Balance { get; set; }

    public partial string? Owner { get; set; }

    public partial PersistentList<long> History { get; }
}
CS

step=$SECONDS
dotnet build "$app" -c Release --disable-build-servers -v quiet --nologo >"$work/build-app.log" 2>&1 || { cat "$work/build-app.log"; exit 1; }
echo "restored and built the console consumer in $((SECONDS - step)) s"
for run in 1 2; do
    output=$(dotnet "$app/bin/Release/net10.0/PackageConsumer.dll" "$work/app.pool")
    echo "consumer output: $output"
    expected="run=$run owner=Ada balance=42 history=40,2 size=64 stored=64/2"
    [[ "$output" == "$expected" ]] || fail "expected '$expected'"
done

# 2. A test project with Pmem.Objects and Pmem.Objects.Testing: a user-written crash campaign.
if [[ "${PMEM_PACKAGE_TEST_PROJECT:-1}" != 0 ]]; then
    xunit_version=$(sed -n 's/.*PackageVersion Include="xunit.v3" Version="\([^"]*\)".*/\1/p' "$repo/Directory.Packages.props")
    tests="$work/tests"
    make_consumer "$tests"
    cat >"$tests/ConsumerTests.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Pmem.Objects" Version="$version" />
    <PackageReference Include="Pmem.Objects.Testing" Version="$version" />
    <PackageReference Include="xunit.v3" Version="$xunit_version" />
    <Using Include="Xunit" />
  </ItemGroup>
</Project>
XML
    # The example of docs/testing.md, word for word between its code fences, plus a check that images were taken.
    awk '/^## A campaign/ { on = 1 } on && /^```csharp/ { code = 1; next } code && /^```/ { exit } code { print }' \
        "$repo/docs/testing.md" >"$tests/CounterCrashTests.cs"
    grep -q 'CrashCampaign.Run' "$tests/CounterCrashTests.cs" || fail "docs/testing.md has no campaign example"
    sed -i 's|^        result.ThrowIfFailed();.*|&\n        Assert.True(result.ImagesChecked > 100, result.ToString());|' "$tests/CounterCrashTests.cs"

    step=$SECONDS
    dotnet build "$tests" -c Release --disable-build-servers -v quiet --nologo >"$work/build-tests.log" 2>&1 || { cat "$work/build-tests.log"; exit 1; }
    echo "restored and built the consumer test project in $((SECONDS - step)) s"
    step=$SECONDS
    dotnet test --project "$tests" -c Release --no-build >"$work/test.log" 2>&1 || { cat "$work/test.log"; fail "the consumer's crash campaign failed"; }
    grep -Eq '^[[:space:]]*succeeded:[[:space:]]*1$' "$work/test.log" || { cat "$work/test.log"; fail "expected one passing test"; }
    echo "consumer tests: the crash campaign of docs/testing.md passed in $((SECONDS - step)) s"
fi

echo "PASS: Pmem.Objects and Pmem.Objects.Testing $version work from the packages alone, $((SECONDS - started)) s in total"
