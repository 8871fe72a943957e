#!/usr/bin/env bash
# Proves that the Pmem.Core package alone is enough for a user: it packs Pmem.Core, checks that the package carries
# the generator under analyzers/dotnet/cs and does not depend on it, then creates a fresh console project outside the
# repository that restores the package from a local folder into an empty package cache (so no stale copy of the same
# version can be used), lets the bundled generator complete a [PersistentObject] class, and runs it against a pool.
#
# Usage: eng/verify-package.sh            (packs a fresh Release build)
# Environment:
#   PMEM_CONFIGURATION=Release|Debug      configuration to pack (default Release)
#   PMEM_PACK_NO_BUILD=1                  pack the existing build (the xunit test uses this; the build is already done)
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

pack_args=(-c "$configuration" -o "$work/feed")
if [[ "${PMEM_PACK_NO_BUILD:-0}" == 1 ]]; then
    pack_args+=(--no-build)
fi
dotnet pack "$repo/src/Pmem.Core" "${pack_args[@]}" --nologo -v quiet >"$work/pack.log" 2>&1 || { cat "$work/pack.log"; exit 1; }

package=$(ls "$work"/feed/Pmem.Core.*.nupkg)
version=$(basename "$package" .nupkg)
version=${version#Pmem.Core.}
echo "packed $(basename "$package") in $((SECONDS - started)) s"

if command -v unzip >/dev/null; then
    # Listed into variables first: grep -q closing the pipe early would fail the pipeline under pipefail.
    entries=$(unzip -Z1 "$package")
    nuspec=$(unzip -p "$package" Pmem.Core.nuspec)
    grep -qx 'analyzers/dotnet/cs/Pmem.Generators.dll' <<<"$entries" \
        || { echo "FAIL: the package has no analyzers/dotnet/cs/Pmem.Generators.dll"; echo "$entries"; exit 1; }
    if grep -qi 'Pmem.Generators' <<<"$nuspec"; then
        echo "FAIL: the package declares a dependency on Pmem.Generators"; exit 1
    fi
fi

consumer="$work/consumer"
mkdir -p "$consumer"
# The repository's global.json pins the SDK band the generator's Roslyn matches (TOOLCHAIN.md).
cp "$repo/global.json" "$consumer/"
# Adds the local feed to the machine's configured sources (which supply Pmem.Core's own dependencies).
cat >"$consumer/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="pmem-local" value="$work/feed" />
  </packageSources>
</configuration>
XML
cat >"$consumer/PackageConsumer.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Pmem.Core" Version="[$version]" />
  </ItemGroup>
</Project>
XML
cat >"$consumer/Program.cs" <<'CS'
using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;

// Without the bundled generator this file does not compile (CS9248: partial properties without implementation).
var domain = new SimulatedDomain(4 << 20);
byte[] image;
using (var pool = PersistentPool.Create(domain, "package-check"))
{
    var account = pool.Root<Account>();
    account.Owner = "Ada";
    account.Balance = 42;
    account.History.Add(40);
    account.History.Add(2);
    image = domain.CrashNonePersisted();
}

using var reopened = PersistentPool.Open(SimulatedDomain.FromImage(image), "package-check");
var again = reopened.Root<Account>();
Console.WriteLine($"owner={again.Owner} balance={again.Balance} history={string.Join(",", again.History)} size={Account.PersistentType.Size}");

[PersistentObject(Name = "package.account")]
public partial class Account
{
    public partial long Balance { get; set; }

    public partial string? Owner { get; set; }

    public partial PersistentList<long> History { get; }
}
CS

export NUGET_PACKAGES="$work/packages"
step=$SECONDS
dotnet build "$consumer" -c Release --disable-build-servers -v quiet --nologo >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
echo "restored and built the consumer in $((SECONDS - step)) s"

output=$(dotnet run --project "$consumer" -c Release --no-build)
echo "consumer output: $output"
expected="owner=Ada balance=42 history=40,2 size=64"
if [[ "$output" != "$expected" ]]; then
    echo "FAIL: expected '$expected'"
    exit 1
fi

echo "PASS: Pmem.Core $version (library + generator) works from the package alone, $((SECONDS - started)) s in total"
