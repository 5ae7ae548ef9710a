<#
.SYNOPSIS
Installs the PrivaClaw connector for the current Windows user (Windows 10 1809 or later).

.DESCRIPTION
Downloads relay-connector.exe from the relay, checks its SHA-256, installs it to
%LOCALAPPDATA%\relay-connector, pairs it (the credentials go to %USERPROFILE%\.relay-connector.json,
readable by this user alone), and registers the scheduled task "relay-connector", which starts
it hidden at logon as this user (not elevated). Browser sessions get this user's shell:
PowerShell (or %COMSPEC%). The task's runner restarts the connector after an error (exit 1)
but not after exit 0 (stopped), 2 (usage), 3 (pair again) or 4 (replaced by another copy).
Re-running upgrades in place; -Uninstall removes the task and the program.

.EXAMPLE
powershell -ExecutionPolicy Bypass -File install.ps1 -Relay https://relay.example.com -Pair ABC234

.EXAMPLE
& ([scriptblock]::Create((irm https://relay.example.com/install.ps1))) -Pair ABC234

.EXAMPLE
powershell -ExecutionPolicy Bypass -File install.ps1 -Uninstall -Purge
#>
param(
    # The relay's origin, e.g. https://relay.example.com (filled in when the relay serves this file).
    [string]$Relay = $env:RELAY_URL,
    # One-time pairing code from the web app (Devices, Add device); needed the first time.
    [string]$Pair,
    # Rename the device when pairing (default: keep the name it has in the web app).
    [string]$Name,
    # Install this local relay-connector.exe instead of downloading one.
    [string]$Exe,
    [switch]$Uninstall,
    # With -Uninstall: also delete the credentials.
    [switch]$Purge
)
$ErrorActionPreference = 'Stop'
if (-not $Relay) { $Relay = '__RELAY_URL__' }
$Relay = $Relay.TrimEnd('/')
$Dir = Join-Path $env:LOCALAPPDATA 'relay-connector'
$Bin = Join-Path $Dir 'relay-connector.exe'
$Runner = Join-Path $Dir 'run.ps1'
$Config = Join-Path $env:USERPROFILE '.relay-connector.json'
$Task = 'relay-connector'
$Startup = Join-Path ([Environment]::GetFolderPath('Startup')) 'relay-connector.lnk'

function Say([string]$Message) { Write-Host "relay-connector: $Message" }

function Stop-Connector {
    Stop-ScheduledTask -TaskName $Task -ErrorAction SilentlyContinue
    Get-Process -Name 'relay-connector' -ErrorAction SilentlyContinue |
        Where-Object { $_.Path -eq $Bin } | Stop-Process -Force
}

if ($Uninstall) {
    Stop-Connector
    Unregister-ScheduledTask -TaskName $Task -Confirm:$false -ErrorAction SilentlyContinue
    Remove-Item -Force $Startup -ErrorAction SilentlyContinue
    Remove-Item -Recurse -Force $Dir -ErrorAction SilentlyContinue
    Say "removed the scheduled task '$Task' and $Dir"
    if ($Purge) {
        Remove-Item -Force $Config -ErrorAction SilentlyContinue
        Say "deleted $Config; delete the device in the web app too"
    } elseif (Test-Path $Config) {
        Say "kept $Config (this device's credentials); -Uninstall -Purge deletes it"
    }
    return
}

New-Item -ItemType Directory -Force -Path $Dir | Out-Null
$New = "$Bin.new"
if ($Exe) {
    Copy-Item -Force $Exe $New
    Say "installing $Exe"
} else {
    if ($Relay -notmatch '^https?://') { throw 'no relay URL: pass -Relay https://your-relay' }
    # Windows PowerShell 5.1 may default to TLS 1.0; the relay needs 1.2 or later.
    [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor 3072
    $Url = "$Relay/functions/v1/download-connector?os=windows&arch=x86_64"
    Say "downloading the connector for windows/x86_64 from $Relay"
    $Sum = (Invoke-WebRequest -UseBasicParsing -Uri "$Url&checksum=1").Content
    if ($Sum -is [byte[]]) { $Sum = [Text.Encoding]::ASCII.GetString($Sum) }
    $Expected = ($Sum.Trim() -split '\s+')[0].ToLower()
    if ($Expected -notmatch '^[0-9a-f]{64}$') { throw "the relay sent no valid checksum: $Sum" }
    Invoke-WebRequest -UseBasicParsing -Uri $Url -OutFile $New
    $Actual = (Get-FileHash -Algorithm SHA256 -Path $New).Hash.ToLower()
    if ($Actual -ne $Expected) {
        Remove-Item -Force $New
        throw "checksum mismatch: expected $Expected, got $Actual. Not installing."
    }
    Say "verified (sha256 $Actual)"
}
$Version = & $New --version
if ($LASTEXITCODE -ne 0) { throw "the downloaded connector does not run here (exit $LASTEXITCODE)" }

# Upgrade in place: stop the running copy so its file can be replaced.
$Old = if (Test-Path $Bin) { & $Bin --version } else { $null }
Stop-Connector
Move-Item -Force $New $Bin
if ($Old) { Say "upgraded $Bin ($Old -> $Version)" } else { Say "installed $Bin ($Version)" }

if ($Pair) {
    if ($Relay -notmatch '^https?://') { throw 'pairing needs the relay URL: pass -Relay https://your-relay' }
    $Rename = if ($Name) { @('--name', $Name) } else { @() }
    & $Bin --pair $Pair --api "$Relay/functions/v1" @Rename
    if ($LASTEXITCODE -ne 0) { throw "pairing failed (exit $LASTEXITCODE): get a new code in the web app and run this again with -Pair CODE" }
} elseif (Test-Path $Config) {
    Say "keeping the existing pairing in $Config"
} else {
    throw 'not paired yet: run this again with -Pair CODE (from the web app: Devices, Add device)'
}

# The runner: restarts the connector after errors, not after exit 0, 2, 3 or 4. stderr of the
# last run goes to connector.log next to it.
@'
# Started hidden at logon by the scheduled task "relay-connector" (install.ps1).
$Bin = Join-Path $PSScriptRoot 'relay-connector.exe'
$Log = Join-Path $PSScriptRoot 'connector.log'
while ($true) {
    $Process = Start-Process -FilePath $Bin -NoNewWindow -Wait -PassThru -RedirectStandardError $Log
    if (@(0, 2, 3, 4) -contains $Process.ExitCode) { exit $Process.ExitCode }
    Start-Sleep -Seconds 5
}
'@ | Set-Content -Encoding UTF8 -Path $Runner

$Arguments = "-NoLogo -NoProfile -NonInteractive -WindowStyle Hidden -ExecutionPolicy Bypass -File `"$Runner`""
$User = "$env:USERDOMAIN\$env:USERNAME"
try {
    $Action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument $Arguments -WorkingDirectory $env:USERPROFILE
    $Trigger = New-ScheduledTaskTrigger -AtLogOn -User $User
    $Principal = New-ScheduledTaskPrincipal -UserId $User -LogonType Interactive -RunLevel Limited
    $Settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries `
        -ExecutionTimeLimit ([TimeSpan]::Zero) -StartWhenAvailable -MultipleInstances IgnoreNew
    Register-ScheduledTask -TaskName $Task -Action $Action -Trigger $Trigger -Principal $Principal `
        -Settings $Settings -Force | Out-Null
    Start-ScheduledTask -TaskName $Task
    Say "scheduled task '$Task': starts at your logon, hidden; started now (taskschd.msc shows it)"
} catch {
    # Some systems let only administrators register logon tasks: fall back to the Startup folder.
    Say "cannot register a scheduled task ($($_.Exception.Message)); using the Startup folder instead"
    $Shell = New-Object -ComObject WScript.Shell
    $Link = $Shell.CreateShortcut($Startup)
    $Link.TargetPath = 'powershell.exe'
    $Link.Arguments = $Arguments
    $Link.WorkingDirectory = $env:USERPROFILE
    $Link.WindowStyle = 7
    $Link.Save()
    Start-Process -WindowStyle Hidden -FilePath 'powershell.exe' -ArgumentList $Arguments
    Say "shortcut $Startup: starts at your logon; started now"
}
Say 'done'
