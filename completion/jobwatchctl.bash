# SPDX-License-Identifier: MIT
# bash completion for jobwatchctl(1).
#
# Completes commands, options, job kinds (add --kind: the built-in ones and the
# [Kind:NAME] sections of the config file and its drop-ins, found with a plain
# grep), actions, endpoint names (the same grep for [Endpoint] /
# [Endpoint:NAME]) and, for "wait", the job ids of `jobwatchctl list --json`
# (every kind's: UUIDs, indexing batches, a user kind's ids without quotes or
# backslashes). A value of --field is not completed. meson substitutes the
# built-in config path; used from the source tree, /etc/jobwatch/jobwatch.conf
# is assumed.

_jobwatchctl_default_config='@JOBWATCH_CONFIG_FILE@'

# The value of the last -c/--config (or -s/--state-dir, ...) on the line.
_jobwatchctl_option_value()
{
    local short=$1 long=$2 i value=
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        case ${COMP_WORDS[i]} in
            "$short" | "$long")
                if [[ ${COMP_WORDS[i + 1]} == = ]]; then
                    value=${COMP_WORDS[i + 2]}
                else
                    value=${COMP_WORDS[i + 1]}
                fi
                ;;
            "$long"=*) value=${COMP_WORDS[i]#*=} ;;
        esac
    done
    printf '%s' "$value"
}

_jobwatchctl_config()
{
    local conf
    conf=$(_jobwatchctl_option_value -c --config)
    if [[ -z $conf ]]; then
        conf=$_jobwatchctl_default_config
        [[ $conf == @* ]] && conf=/etc/jobwatch/jobwatch.conf
    fi
    printf '%s' "$conf"
}

_jobwatchctl_endpoints()
{
    local conf
    conf=$(_jobwatchctl_config)
    # systemd-style sections; drop-ins live in "<config>.d/*.conf"
    grep -h -o -E '^[[:space:]]*\[Endpoint(:[A-Za-z0-9_.-]+)?\]' \
        "$conf" "$conf".d/*.conf 2>/dev/null |
        sed -E 's/^[[:space:]]*\[Endpoint:?//; s/\]$//; s/^$/default/' | sort -u
}

# The built-in kinds and the configured [Kind:NAME]s.
_jobwatchctl_kinds()
{
    local conf
    conf=$(_jobwatchctl_config)
    printf '%s\n' annotation-reply document-indexing workflow-run
    grep -h -o -E '^[[:space:]]*\[Kind:[A-Za-z0-9_.-]+\]' \
        "$conf" "$conf".d/*.conf 2>/dev/null |
        sed -E 's/^[[:space:]]*\[Kind://; s/\]$//' | sort -u
}

_jobwatchctl_job_ids()
{
    local args=() v
    v=$(_jobwatchctl_option_value -s --state-dir)
    [[ -n $v ]] && args+=(--state-dir "$v")
    # JSON without jq: every "job_id":"..." value without escapes (a UUID,
    # a batch, most user kinds' ids)
    "${COMP_WORDS[0]}" "${args[@]}" list --json 2>/dev/null |
        grep -o -E '"job_id": *"[^"\\]+"' | sed -E 's/.*"([^"\\]+)"$/\1/'
}

_jobwatchctl()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion -n = || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local commands='add list wait start help'
    local common='-c --config -j --jobs-dir -s --state-dir -h --help --version'
    local -A opts=(
        [add]='-k --kind -f --field -e --endpoint -d --description'
        [list]='--json'
        [wait]='-t --timeout'
        [start]='-e --endpoint -d --description --score-threshold --embedding-provider
                 --embedding-model -w --wait -t --timeout'
    )

    # the command: the first word that is not an option or an option's value
    local i cmd= skip=
    for ((i = 1; i < cword; i++)); do
        if [[ -n $skip ]]; then
            skip=
            continue
        fi
        case ${words[i]} in
            -c | --config | -j | --jobs-dir | -s | --state-dir | -e | --endpoint | \
                -k | --kind | -f | --field | -d | --description | -t | --timeout | \
                --score-threshold | --embedding-provider | --embedding-model)
                skip=1 ;;
            -*) ;;
            *)
                cmd=${words[i]}
                break
                ;;
        esac
    done

    case $prev in
        -c | --config)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur"))
            return
            ;;
        -j | --jobs-dir | -s | --state-dir)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -d -- "$cur"))
            return
            ;;
        -e | --endpoint)
            COMPREPLY=($(compgen -W "$(_jobwatchctl_endpoints)" -- "$cur"))
            return
            ;;
        -k | --kind)
            COMPREPLY=($(compgen -W "$(_jobwatchctl_kinds)" -- "$cur"))
            return
            ;;
        -t | --timeout)
            COMPREPLY=($(compgen -W '30s 5min 10min 1h infinity' -- "$cur"))
            return
            ;;
        --score-threshold)
            COMPREPLY=($(compgen -W '0.5 0.8 0.9 1' -- "$cur"))
            return
            ;;
        -d | --description | -f | --field | --embedding-provider | --embedding-model)
            return
            ;;
    esac

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$common" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$common ${opts[$cmd]}" -- "$cur"))
        return
    fi

    # positional arguments after the command
    local npos=0 j
    skip=
    for ((j = i + 1; j < cword; j++)); do
        if [[ -n $skip ]]; then
            skip=
            continue
        fi
        case ${words[j]} in
            -c | --config | -j | --jobs-dir | -s | --state-dir | -e | --endpoint | \
                -k | --kind | -f | --field | -d | --description | -t | --timeout | \
                --score-threshold | --embedding-provider | --embedding-model)
                skip=1 ;;
            -*) ;;
            *) ((npos++)) ;;
        esac
    done

    # the kind of add: ACTION comes first only for annotation-reply jobs
    local kind
    kind=$(_jobwatchctl_option_value -k --kind)

    case $cmd in
        add | start)
            [[ $cmd == start || -z $kind || $kind == annotation-reply ]] &&
                ((npos == 0)) && COMPREPLY=($(compgen -W 'enable disable' -- "$cur"))
            ;;
        wait)
            COMPREPLY=($(compgen -W "$(_jobwatchctl_job_ids)" -- "$cur"))
            ;;
    esac
} &&
    complete -F _jobwatchctl jobwatchctl
