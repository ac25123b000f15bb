# Run clx from the author image on the course in the current folder, on
# Windows with Docker Desktop or Podman Desktop. Outputs land in the course
# folder; the cache lives in the volume `clx-state`.
#
#   .\scripts\clx-container.ps1 build           # clx build on .\course-specs\*.xml
#   .\scripts\clx-container.ps1 serve           # preview on http://localhost:8000
#
# $env:CLX_IMAGE (default clx-author; build it with
# `docker build --target author -t clx-author .`), $env:CLX_PORT (default
# 8000), $env:CLX_CONTAINER_ENGINE (default docker, else podman).
param([Parameter(ValueFromRemainingArguments = $true)][string[]]$ClxArgs = @())
$ErrorActionPreference = 'Stop'

$image = if ($env:CLX_IMAGE) { $env:CLX_IMAGE } else { 'clx-author' }
$port = if ($env:CLX_PORT) { $env:CLX_PORT } else { '8000' }
$engine = $env:CLX_CONTAINER_ENGINE
if (-not $engine) {
    foreach ($candidate in 'docker', 'podman') {
        if (Get-Command $candidate -ErrorAction SilentlyContinue) { $engine = $candidate; break }
    }
}
if (-not $engine) {
    Write-Error 'clx-container: neither docker nor podman is installed; install Docker Desktop or Podman Desktop'
    exit 2
}

$run = @('run', '--rm', '-it', '-v', "$($PWD.Path):/course", '-v', 'clx-state:/state', '-w', '/course')
if ($ClxArgs.Count -gt 0 -and $ClxArgs[0] -eq 'serve') {
    # Inside, the server listens on every address of the container; outside,
    # only this machine reaches the published port.
    $run += @('-p', "127.0.0.1:${port}:8000")
    $rest = if ($ClxArgs.Count -gt 1) { $ClxArgs[1..($ClxArgs.Count - 1)] } else { @() }
    $ClxArgs = @('serve', '--host', '0.0.0.0', '--port', '8000') + $rest
}
& $engine @run $image @ClxArgs
exit $LASTEXITCODE
